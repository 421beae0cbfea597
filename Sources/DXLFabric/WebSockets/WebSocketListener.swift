import Crypto
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A broker's WebSocket listener, as DXL brokers offer one: MQTT over WebSockets over mutual TLS
/// (`wss://host:port/mqtt`, what `dxlclient` with `UseWebSockets=true` opens through paho), carried to
/// the broker's internal listener on 127.0.0.1.
///
/// Debian's mosquitto is built without WebSockets, so this listener stands in front of it. The TLS
/// handshake checks the client's certificate against the fabric's CA, like the broker's own listener;
/// the client's CONNECT is rewritten to name that certificate's identity (see `MQTTConnectRewriter`), so
/// the broker's plugin applies the same topic authorisation to it. Each connection has a thread; one
/// that stalls (no handshake, no upgrade, a peer that stops reading for 30 s) is closed.
/// Threading: any thread.
package final class WebSocketListener: Sendable {
    private let listener: SocketListener
    /// The port clients connect to.
    package var port: Int { listener.port }

    /// Listens on `host:port` (0: a free port) with the broker's certificate, accepting client
    /// certificates of the CA `clientCA`, and carries each connection to `127.0.0.1:upstreamPort()` with
    /// credentials `secret`.
    package init(host: String, port: Int, certificate: String, key: String, clientCA: String, upstreamPort: @escaping @Sendable () -> Int, secret: String,
                 logger: Logger) throws(TLSError) {
        let context = try TLSContext(serverCertificate: certificate, key: key, clientCA: clientCA)
        listener = try SocketListener(name: "WebSocket listener", host: host, port: port, context: context, logger: logger) { connection in
            WebSocketSession(connection: connection, upstreamPort: upstreamPort(), secret: secret, logger: logger).run()
        }
    }

    /// Closes the listener and every connection.
    package func stop() { listener.stop() }
}

/// One client of a `WebSocketListener`, on its own thread.
private struct WebSocketSession {
    let connection: SocketConnection
    let upstreamPort: Int
    let secret: String
    let logger: Logger

    /// The GUID RFC 6455 appends to the client's key.
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    func run() {
        let identity = connection.peerCommonName ?? ""
        guard case .head(let head, let early) = HTTPRequestHead.read(from: connection) else {
            logger.warning("WebSocket listener: \(identity) sent no WebSocket upgrade request (a TLS MQTT client at the WebSocket port?); closed")
            return
        }
        guard let key = head.headers["sec-websocket-key"], head.method == "GET",
              head.headers["upgrade"]?.lowercased() == "websocket", head.headers["sec-websocket-version"] == "13" else {
            connection.write(httpResponse(status: 400, reason: "Bad Request", headers: [("Content-Type", "text/plain")],
                                          body: "tiesim's DXL WebSocket listener speaks MQTT over WebSockets (version 13) at /mqtt\n"))
            return
        }
        guard head.path == "/mqtt" || head.path == "/" else {
            connection.write(httpResponse(status: 404, reason: "Not Found", headers: [("Content-Type", "text/plain")], body: "MQTT is at /mqtt\n"))
            return
        }
        let offered = (head.headers["sec-websocket-protocol"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let upstream: Int32
        do {
            upstream = try Sockets.connect(host: "127.0.0.1", port: upstreamPort)
        } catch {
            logger.warning("WebSocket listener: the broker is not reachable (\(error)); refused \(identity)")
            connection.write(httpResponse(status: 503, reason: "Service Unavailable", body: "the broker is down\n"))
            return
        }
        defer { close(upstream) }
        let accept = Data(Insecure.SHA1.hash(data: Data((key + Self.acceptGUID).utf8))).base64EncodedString()
        var headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)]
        if let chosen = offered.first(where: { $0 == "mqtt" || $0 == "mqttv3.1" }) { headers.append(("Sec-WebSocket-Protocol", chosen)) }
        guard connection.write(httpResponse(status: 101, reason: "Switching Protocols", headers: headers)) else { return }
        // From here a stalled peer has 30 s per read or write before its connection is dropped.
        connection.setTimeouts(30)
        Sockets.setTimeouts(upstream, 30)
        relay(upstream: upstream, identity: identity, early: early)
    }

    /// Carries bytes both ways until either side ends.
    private func relay(upstream: Int32, identity: String, early: [UInt8]) {
        var decoder = WebSocketDecoder()
        var rewriter = MQTTConnectRewriter()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        /// Handles what the client sent; false when the connection is to end.
        func fromClient(_ bytes: UnsafeRawBufferPointer) -> Bool {
            for output in decoder.feed(bytes) {
                switch output {
                case .data(let data):
                    do {
                        let forward = try rewriter.feed(data, identity: identity, secret: secret)
                        guard forward.isEmpty || forward.withUnsafeBytes({ Sockets.sendAll(upstream, $0) }) else { return false }
                    } catch {
                        logger.info("WebSocket listener: \(identity) refused: \(error)")
                        connection.write(WebSocketFrame.close(code: 1002))
                        return false
                    }
                case .ping(let payload):
                    guard connection.write(WebSocketFrame.pong(payload)) else { return false }
                case .close:
                    connection.write(WebSocketFrame.close(code: 1000))
                    return false
                case .failure(let reason):
                    logger.info("WebSocket listener: \(identity): \(reason); closed")
                    connection.write(WebSocketFrame.close(code: 1002))
                    return false
                }
            }
            return true
        }
        if !early.isEmpty, !early.withUnsafeBytes({ fromClient($0) }) { return }
        while true {
            var descriptors = [pollfd(fd: connection.descriptor, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
            if !connection.hasBufferedInput {
                guard poll(&descriptors, 2, 60_000) >= 0 || errno == EINTR else { return }
            } else {
                descriptors[0].revents = Int16(POLLIN)
            }
            if descriptors[0].revents != 0 {
                let result = buffer.withUnsafeMutableBytes { connection.read(into: $0) }
                switch result {
                case .bytes(let count):
                    guard buffer.withUnsafeBytes({ fromClient(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }) else { return }
                case .again:
                    break
                case .closed:
                    return
                }
            }
            if descriptors[1].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard count > 0 else {
                    connection.write(WebSocketFrame.close(code: 1000))
                    return
                }
                let frame = buffer.withUnsafeBytes { WebSocketFrame.binary(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
                guard connection.write(frame) else { return }
            }
        }
    }
}
