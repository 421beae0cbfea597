import DXLWire
import DXL
import DXLFabric
import FlyingFox
import Foundation
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
public final class HTTPControlServer: Sendable {
    private let server: HTTPServer
    private let task: Task<Void, Never>
    /// The port it listens on.
    public let port: Int

    private init(server: HTTPServer, task: Task<Void, Never>, port: Int) {
        self.server = server
        self.task = task
        self.port = port
    }

    /// The largest request body read (scenario fragments are small; a 16 MiB body is already unusual).
    public static let largestBody = 16 << 20
    /// How long a request may take: as long as the longest timeline `POST /play` plays.
    static let longestRequest: TimeInterval = 31 * 86_400

    /// Why the server could not start.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts listening on `host:port` (nil: a free port); `health` says whether the fabric is up.
    public static func start(control: FabricControl, host: String = "127.0.0.1", port: Int? = nil,
                             health: @escaping @Sendable () -> (ok: Bool, details: DXLWire.JSONValue) = { (true, .object([:])) }) async throws -> HTTPControlServer {
        let chosen = port ?? LocalBroker.freePort()
        guard (1...65_535).contains(chosen) else { throw StartError(description: "\(chosen) is not a TCP port") }
        // A handler may take as long as a timeline plays (`POST /play` answers when it is done): FlyingFox's
        // default of 15 s answered 500 and cancelled longer timelines.
        let server = HTTPServer(address: try .inet(ip4: host, port: UInt16(chosen)), timeout: Self.longestRequest, logger: .disabled)
        let loopback = host == "127.0.0.1" || host == "localhost"
        let allowedHosts: Set<String> = ["127.0.0.1:\(chosen)", "localhost:\(chosen)", "[::1]:\(chosen)"]
        let allowedOrigins = Set(allowedHosts.map { "http://" + $0 })
        /// Nil when the request may be served; else the refusal.
        @Sendable func refusal(_ request: HTTPRequest) -> HTTPResponse? {
            if let origin = request.headers[HTTPHeader("Origin")], !allowedOrigins.contains(origin.lowercased()) {
                return forbidden("requests from web pages (Origin: \(origin)) are refused: use curl or a script")
            }
            if loopback, let hostHeader = request.headers[.host], !allowedHosts.contains(hostHeader.lowercased()) {
                return forbidden("Host: \(hostHeader) is not this server (127.0.0.1:\(chosen))")
            }
            return nil
        }
        @Sendable func forbidden(_ message: String) -> HTTPResponse {
            HTTPResponse(statusCode: .forbidden, headers: [.contentType: "application/json"],
                         body: Data(DXLWire.JSONValue.object(["error": .string(message)]).serializedBytes(style: .python)))
        }
        @Sendable func reply(_ body: () async throws(ControlError) -> DXLWire.JSONValue) async -> HTTPResponse {
            do {
                let value = try await body()
                return HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: Data(value.serializedBytes(style: .python)))
            } catch {
                return HTTPResponse(statusCode: HTTPStatusCode(error.status, phrase: "Error"), headers: [.contentType: "application/json"],
                                    body: Data(DXLWire.JSONValue.object(["error": .string(error.message)]).serializedBytes(style: .python)))
            }
        }
        /// The body as text, read up to `largestBody` bytes (a larger one is refused, not read).
        @Sendable func text(_ request: HTTPRequest) async throws(ControlError) -> String {
            let tooLarge = ControlError(message: "the body is larger than \(Self.largestBody >> 20) MiB; send scenario fragments, not files of that size", status: 413)
            if let length = request.headers[HTTPHeader("Content-Length")].flatMap(Int.init), length > Self.largestBody { throw tooLarge }
            var data = Data()
            do {
                for try await chunk in request.bodySequence {
                    data.append(chunk)
                    if data.count > Self.largestBody { throw tooLarge }
                }
            } catch let error as ControlError {
                throw error
            } catch {
                throw ControlError(message: "the body could not be read: \(error)", status: 400)
            }
            return String(decoding: data, as: UTF8.self)
        }
        await server.appendRoute("GET /health") { request in
            if let refused = refusal(request) { return refused }
            let state = health()
            var body = state.details
            body["ok"] = .bool(state.ok)
            return HTTPResponse(statusCode: state.ok ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                                body: Data(body.serializedBytes(style: .python)))
        }
        await server.appendRoute("POST /reset") { request in
            if let refused = refusal(request) { return refused }
            return await reply { control.reset() }
        }
        await server.appendRoute("POST /load") { request in
            if let refused = refusal(request) { return refused }
            return await reply { () throws(ControlError) in try control.load(try await text(request)) }
        }
        await server.appendRoute("POST /play") { request in
            if let refused = refusal(request) { return refused }
            return await reply { () throws(ControlError) in try await control.play(try await text(request)) }
        }
        await server.appendRoute("POST /verify") { request in
            if let refused = refusal(request) { return refused }
            return await reply { () throws(ControlError) in try control.verify(try await text(request)) }
        }
        await server.appendRoute("GET /journal") { request in
            if let refused = refusal(request) { return refused }
            let since = request.query.first { $0.name == "sinceMs" }.flatMap { Double($0.value) }
            return await reply { control.journal(sinceMs: since) }
        }
        let failure = Mutex<String?>(nil)
        let task = Task {
            do { try await server.run() } catch { failure.withLock { $0 = String(describing: error) } }
        }
        // A port in use fails the server at once: say so at once, not after the listening wait.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while true {
            if (try? await server.waitUntilListening(timeout: 0.1)) != nil { break }
            if let reason = failure.withLock({ $0 }) {
                task.cancel()
                throw StartError(description: "the HTTP control API cannot listen on \(host):\(chosen): \(reason.contains("Address already in use") || reason.contains("98") ? "the port is in use" : reason) — pick another --http-port, or --no-http")
            }
            guard clock.now < deadline else {
                task.cancel()
                throw StartError(description: "the HTTP control API did not start listening on \(host):\(chosen) within 10 s")
            }
        }
        return HTTPControlServer(server: server, task: task, port: chosen)
    }

    /// Stops listening.
    public func stop() async {
        await server.stop(timeout: 0)  // connections are completed first; then the accept loop is cancelled at once
        task.cancel()
    }
}

