import DXLWire
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE

/// The control commands over HTTP on loopback, for curl and CI scripts:
///
///     curl -X POST --data-binary @fragment.yaml http://127.0.0.1:PORT/play
///
/// `POST /reset`, `POST /load`, `POST /play`, `POST /verify` (bodies: scenario YAML), `GET /journal`
/// (`?sinceMs=`), `GET /health` (503 when a broker is down). Replies are JSON; failures carry
/// `{"error": "..."}` and a 4xx/5xx status.
///
/// Web pages cannot drive it: a request with an `Origin` header (what a browser sends with a page's
/// requests) is refused unless the origin is this server itself, and on loopback a `Host` other than
/// 127.0.0.1, localhost or [::1] with this port is refused too (DNS rebinding). curl and scripts send
/// no Origin and are not affected.
///
/// Hostile or broken clients are bounded: one request per connection; the request head must arrive
/// whole within 10 s (else the connection is closed) and within 64 KiB (else 431), a body within 60 s
/// and 16 MiB (else 408, or 413 unread); at most 128 connections at once (more are closed); the listener survives running out of
/// file descriptors. A handler may run as long as its command (`POST /play` answers when the timeline
/// is done). Each connection has a thread of its own; handlers run as tasks, cancelled by `stop`.
public final class HTTPControlServer: Sendable {
    private let listener: SocketListener
    private let handlers = Mutex<[UInt64: Task<Void, Never>]>([:])
    private let nextHandler = Atomic<UInt64>(0)
    /// The port it listens on.
    public let port: Int

    /// The largest request body read (scenario fragments are small; a 16 MiB body is already unusual).
    public static let largestBody = 16 << 20
    /// The largest request head (request line and headers).
    public static let largestHead = 64 << 10
    /// How long a client may take to send its request head (`start`'s `headTimeout`), and its body.
    private let headTime: Duration
    static let bodyTime: Duration = .seconds(60)

    /// Why the server could not start.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The paths served, each with its method, in the order the 404 answer lists them.
    static let routes: KeyValuePairs<String, String> = ["/health": "GET", "/journal": "GET", "/reset": "POST", "/load": "POST", "/play": "POST", "/verify": "POST"]
    /// What a request for any other path is told.
    static let served = "tiesim serves " + routes.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    /// The reason phrases of the statuses answered.
    static let reasons = [200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
                          411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large", 503: "Service Unavailable"]

    /// A handler's answer: status and JSON body.
    typealias Answer = (status: Int, body: DXLWire.JSONValue)

    /// The `Host` values (and, with `http://`, the `Origin`s) that name this server.
    private let allowedHosts: Set<String>
    private let allowedOrigins: Set<String>

    private init(listener: SocketListener, port: Int, headTime: Duration) {
        allowedHosts = ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"]
        allowedOrigins = Set(allowedHosts.map { "http://" + $0 })
        self.listener = listener
        self.port = port
        self.headTime = headTime
    }

    /// Starts listening on `host:port` (nil: a free port); `health` says whether the fabric is up. A client
    /// that has not sent its whole request head within `headTimeout` is disconnected.
    public static func start(control: FabricControl, host: String = "127.0.0.1", port: Int? = nil, headTimeout: Duration = .seconds(10),
                             logger: Logger = Logger(label: "tiesim.http"),
                             health: @escaping @Sendable () -> (ok: Bool, details: DXLWire.JSONValue) = { (true, .object([:])) }) async throws -> HTTPControlServer {
        let chosen = port ?? 0
        guard (0...65_535).contains(chosen) else { throw StartError(description: "\(chosen) is not a TCP port") }
        let box = Mutex<HTTPControlServer?>(nil)
        let listener: SocketListener
        do {
            listener = try SocketListener(name: "HTTP control API", host: host, port: chosen, context: nil, maxConnections: 128,
                                          handshakeTimeout: 10, logger: logger) { connection in
                guard let server = box.withLock({ $0 }) else { return }
                server.serve(connection, control: control, host: host, health: health)
            }
        } catch {
            let reason = error.addressInUse ? "the port is in use" : error.description
            throw StartError(description: "the HTTP control API cannot listen on \(host):\(chosen): \(reason) — pick another --http-port, or --no-http")
        }
        let server = HTTPControlServer(listener: listener, port: listener.port, headTime: headTimeout)
        box.withLock { $0 = server }
        return server
    }

    /// Stops listening, ends every connection and cancels the commands still running.
    public func stop() async {
        listener.stop()
        let running = handlers.withLock { handlers in
            defer { handlers.removeAll() }
            return Array(handlers.values)
        }
        for task in running { task.cancel() }
    }

    // MARK: One connection (on its own thread)

    private func serve(_ connection: SocketConnection, control: FabricControl, host: String,
                       health: @escaping @Sendable () -> (ok: Bool, details: DXLWire.JSONValue)) {
        // Each read waits at most a second; the deadlines bound the whole head and body.
        connection.setTimeouts(1)
        let head: HTTPRequestHead
        var body: [UInt8]
        switch HTTPRequestHead.read(from: connection, limit: Self.largestHead, deadline: .now + headTime) {
        case .head(let read, let rest):
            head = read
            body = rest
        case .tooLarge:
            return respond(connection, (431, ["error": .string("the request head is larger than \(Self.largestHead >> 10) KiB")]))
        case .malformed:
            return respond(connection, (400, ["error": .string("not an HTTP/1.1 request")]))
        case .ended:
            return  // closed, or too slow: nothing to answer
        }
        if let refusal = refusal(head, host: host) { return respond(connection, refusal) }
        guard let method = Self.routes.first(where: { $0.key == head.path })?.value else {
            return respond(connection, (404, ["error": .string("no \(head.path) here: \(Self.served)")]))
        }
        guard method == head.method else {
            return respond(connection, (405, ["error": .string("\(head.path) takes \(method), not \(head.method)")]))
        }
        if head.method == "POST" {
            switch readBody(connection, head: head, start: body) {
            case .success(let bytes): body = bytes
            case .failure(let refusal): return respond(connection, refusal.answer)
            }
        }
        let text = String(decoding: body, as: UTF8.self)
        let answer: Answer
        switch head.path {
        case "/health":
            let state = health()
            var details = state.details
            details["ok"] = .bool(state.ok)
            answer = (state.ok ? 200 : 503, details)
        case "/journal":
            let since = head.queryValue("sinceMs").flatMap(Double.init)
            answer = run { control.journal(sinceMs: since) }
        case "/reset":
            answer = run { control.reset() }
        case "/load":
            answer = run { () throws(ControlError) in try control.load(text) }
        case "/verify":
            answer = run { () throws(ControlError) in try control.verify(text) }
        default:  // "/play": as long as the timeline plays
            answer = run { () async throws(ControlError) in try await control.play(text) }
        }
        respond(connection, answer)
    }

    /// Nil when the request may be served; else the refusal.
    private func refusal(_ head: HTTPRequestHead, host: String) -> Answer? {
        if let origin = head.headers["origin"], !allowedOrigins.contains(origin.lowercased()) {
            return (403, ["error": .string("requests from web pages (Origin: \(origin)) are refused: use curl or a script")])
        }
        let loopback = host == "127.0.0.1" || host == "localhost"
        if loopback, let hostHeader = head.headers["host"], !allowedHosts.contains(hostHeader.lowercased()) {
            return (403, ["error": .string("Host: \(hostHeader) is not this server (127.0.0.1:\(port))")])
        }
        return nil
    }

    /// The body: `Content-Length` bytes (the first of them already read with the head), refused unread
    /// when larger than `largestBody`, within `bodyTime`.
    private func readBody(_ connection: SocketConnection, head: HTTPRequestHead, start: [UInt8]) -> Result<[UInt8], BodyRefusal> {
        if head.headers["transfer-encoding"] != nil {
            return .failure(BodyRefusal(answer: (411, ["error": .string("send the body with a Content-Length (curl --data-binary does)")])))
        }
        guard let length = Int(head.headers["content-length"] ?? "0"), length >= 0 else {
            return .failure(BodyRefusal(answer: (400, ["error": .string("Content-Length is not a number")])))
        }
        guard length <= Self.largestBody else {
            return .failure(BodyRefusal(answer: (413, ["error": .string("the body is larger than \(Self.largestBody >> 20) MiB; send scenario fragments, not files of that size")])))
        }
        // curl asks before sending a large body; say yes at once rather than let it wait a second.
        if head.headers["expect"]?.lowercased() == "100-continue" && start.count < length {
            connection.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        var body = Array(start.prefix(length))
        body.reserveCapacity(length)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + Self.bodyTime
        while body.count < length {
            guard ContinuousClock.now < deadline else {
                return .failure(BodyRefusal(answer: (408, ["error": .string("the body did not arrive within \(Self.bodyTime)")])))
            }
            switch chunk.withUnsafeMutableBytes({ connection.read(into: UnsafeMutableRawBufferPointer(rebasing: $0.prefix(length - body.count))) }) {
            case .bytes(let count): body += chunk.prefix(count)
            case .again: continue
            case .closed: return .failure(BodyRefusal(answer: (400, ["error": .string("the connection ended inside the body")])))
            }
        }
        return .success(body)
    }

    private struct BodyRefusal: Error {
        let answer: Answer
    }

    /// Runs a command as a task and waits for it on this connection's thread (not a task's).
    private func run(_ command: @escaping @Sendable () async throws(ControlError) -> DXLWire.JSONValue) -> Answer {
        let result = Mutex<Answer?>(nil)
        let done = DispatchSemaphore(value: 0)
        let key = nextHandler.add(1, ordering: .relaxed).newValue
        let task = Task {
            do throws(ControlError) {
                let value = try await command()
                result.withLock { $0 = (200, value) }
            } catch {
                result.withLock { $0 = (error.status, ["error": .string(error.message)]) }
            }
            done.signal()
        }
        handlers.withLock { $0[key] = task }
        done.wait()
        handlers.withLock { _ = $0.removeValue(forKey: key) }
        return result.withLock { $0 } ?? (500, ["error": .string("the command ended without an answer")])
    }

    private func respond(_ connection: SocketConnection, _ answer: Answer) {
        let body = String(decoding: answer.body.serializedBytes(style: .python), as: UTF8.self)
        connection.write(httpResponse(status: answer.status, reason: Self.reasons[answer.status] ?? "Error",
                                      headers: [("Content-Type", "application/json")], body: body))
    }
}
