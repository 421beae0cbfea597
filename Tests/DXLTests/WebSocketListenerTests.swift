import Foundation
import Logging
import TestSupport
import Testing
@testable import DXLFabric
#if canImport(Glibc)
import Glibc
#endif

/// The WebSocket listener on real sockets, with a plain TCP socket of the test standing in for the broker's
/// internal listener: the upgrade, the rewritten CONNECT, the relay both ways, and refusals.
@Suite("WebSocket listener", .timeLimit(.minutes(1)))
struct WebSocketListenerTests {
    let certificates: FabricCertificates
    let upstream: (descriptor: Int32, port: Int)
    let listener: WebSocketListener

    init() throws {
        certificates = testCertificates
        upstream = try Sockets.listen(host: "127.0.0.1", port: 0)
        let port = upstream.port
        listener = try WebSocketListener(host: "127.0.0.1", port: 0, certificate: certificates.brokerCertificate, key: certificates.brokerKey,
                                         clientCA: certificates.caCertificate, upstreamPort: { port }, secret: "s3cret", logger: Logger(label: "test"))
    }

    func connect(certificate: String, key: String) throws -> SocketConnection {
        let context = try TLSContext(clientCertificate: certificate, key: key, ca: certificates.caCertificate)
        return try SocketConnection.connect(host: "127.0.0.1", port: listener.port, context: context, timeout: 5)
    }

    /// Reads whatever arrives first (up to 4 KiB), or nil when the connection ended.
    func readSome(_ connection: SocketConnection) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard case .bytes(let count) = buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) else { return nil }
        return Array(buffer.prefix(count))
    }

    func masked(_ payload: [UInt8]) -> [UInt8] {
        let mask: [UInt8] = [1, 2, 3, 4]
        return [0x82, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    }

    @Test("an upgraded client's CONNECT reaches the broker with its certificate's identity; bytes flow both ways")
    func relay() throws {
        defer { listener.stop(); close(upstream.descriptor) }
        let client = try connect(certificate: certificates.clientCertificate("client"), key: certificates.clientKey("client"))
        defer { client.close() }
        client.write(Array("GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n".utf8))
        let response = String(decoding: try #require(readSome(client)), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 101 "), "\(response)")
        #expect(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))  // RFC 6455's example
        #expect(response.contains("Sec-WebSocket-Protocol: mqtt\r\n"))
        // CONNECT (client id "abc", clean session, a user name of its own choosing) in a masked binary frame.
        let connect: [UInt8] = [0x10, 0x16, 0, 4] + Array("MQTT".utf8) + [4, 0x82, 0, 60, 0, 3] + Array("abc".utf8) + [0, 5] + Array("admin".utf8)
        client.write(masked(connect))
        Sockets.setTimeouts(upstream.descriptor, 5)
        let broker = accept(upstream.descriptor, nil, nil)
        try #require(broker >= 0)
        defer { close(broker) }
        Sockets.setTimeouts(broker, 5)
        var received = [UInt8](repeating: 0, count: 256)
        let count = recv(broker, &received, received.count, 0)
        let expected: [UInt8] = [0x10, 0x1f, 0, 4] + Array("MQTT".utf8) + [4, 0xc2, 0, 60, 0, 3] + Array("abc".utf8) + [0, 6] + Array("client".utf8) + [0, 6] + Array("s3cret".utf8)
        #expect(Array(received.prefix(max(count, 0))) == expected)
        let connack: [UInt8] = [0x20, 0x02, 0x00, 0x00]
        _ = connack.withUnsafeBytes { Sockets.sendAll(broker, $0) }
        #expect(readSome(client) == [0x82, 0x04] + connack)
        // A ping is answered by the listener itself.
        client.write([0x89, 0x81, 9, 9, 9, 9, 0x07 ^ 9])
        #expect(readSome(client) == [0x8a, 0x01, 0x07])
    }

    @Test("a client that speaks MQTT instead of upgrading is closed at once; a foreign CA's certificate is refused")
    func refusals() throws {
        defer { listener.stop(); close(upstream.descriptor) }
        let client = try connect(certificate: certificates.clientCertificate("client"), key: certificates.clientKey("client"))
        defer { client.close() }
        let started = ContinuousClock.now
        client.write([0x10, 0x0c, 0, 4] + Array("MQTT".utf8) + [4, 2, 0, 60, 0, 0])
        #expect(readSome(client) == nil)
        #expect(ContinuousClock.now - started < .seconds(3))

        let foreign = try FabricCertificates.prepare(in: NSTemporaryDirectory() + "tiesim-ws-foreign-\(UUID().uuidString)", clients: ["client"])
        // Under TLS 1.3 the server checks the client's certificate after the client's side of the handshake:
        // the refusal arrives as the connection's end.
        if let stranger = try? connect(certificate: foreign.clientCertificate("client"), key: foreign.clientKey("client")) {
            defer { stranger.close() }
            stranger.write(Array("GET /mqtt HTTP/1.1\r\n\r\n".utf8))
            #expect(readSome(stranger) == nil)
        }
    }
}
