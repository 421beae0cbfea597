import DXLWire
import DXL
import FlyingFox
import Foundation
import TIE

/// The control commands over HTTP on loopback, for curl and CI scripts:
///
///     curl -X POST --data-binary @fragment.yaml http://127.0.0.1:PORT/play
///
/// `POST /reset`, `POST /load`, `POST /play`, `POST /verify` (bodies: scenario YAML), `GET /journal`
/// (`?sinceMs=`), `GET /health`. Replies are JSON; failures carry `{"error": "..."}` and a 4xx/5xx status.
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

    /// Starts listening on `host:port` (nil: a free port).
    public static func start(control: FabricControl, host: String = "127.0.0.1", port: Int? = nil) async throws -> HTTPControlServer {
        let chosen = port ?? LocalBroker.freePort()
        let server = HTTPServer(address: try .inet(ip4: host, port: UInt16(chosen)), logger: .disabled)
        @Sendable func reply(_ body: () async throws(ControlError) -> DXLWire.JSONValue) async -> HTTPResponse {
            do {
                let value = try await body()
                return HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: Data(value.serializedBytes(style: .python)))
            } catch {
                return HTTPResponse(statusCode: HTTPStatusCode(error.status, phrase: "Error"), headers: [.contentType: "application/json"],
                                    body: Data(DXLWire.JSONValue.object(["error": .string(error.message)]).serializedBytes(style: .python)))
            }
        }
        @Sendable func text(_ request: HTTPRequest) async -> String {
            String(decoding: (try? await request.bodyData) ?? Data(), as: UTF8.self)
        }
        await server.appendRoute("GET /health") { _ in await reply { ["ok": true] } }
        await server.appendRoute("POST /reset") { _ in await reply { control.reset() } }
        await server.appendRoute("POST /load") { request in
            let body = await text(request)
            return await reply { () throws(ControlError) in try control.load(body) }
        }
        await server.appendRoute("POST /play") { request in
            let body = await text(request)
            return await reply { () throws(ControlError) in try await control.play(body) }
        }
        await server.appendRoute("POST /verify") { request in
            let body = await text(request)
            return await reply { () throws(ControlError) in try control.verify(body) }
        }
        await server.appendRoute("GET /journal") { request in
            let since = request.query.first { $0.name == "sinceMs" }.flatMap { Double($0.value) }
            return await reply { control.journal(sinceMs: since) }
        }
        let task = Task { _ = try? await server.run() }
        try await server.waitUntilListening(timeout: 10)
        return HTTPControlServer(server: server, task: task, port: chosen)
    }

    /// Stops listening.
    public func stop() async {
        await server.stop(timeout: 1)
        task.cancel()
    }
}

