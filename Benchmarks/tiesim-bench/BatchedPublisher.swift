import CMosquitto
import DXL
import DXLFabric
import Foundation

/// The fastest stream one connection can feed mosquitto, for the callbacks benchmark: a bare MQTT 3.1.1
/// client over mutual TLS that writes many PUBLISH packets per TLS record (about 16 KB a write), where
/// libmosquitto writes one record per packet. mosquitto reads each record with two read(2) calls, so
/// batching takes most of the broker's reading cost off its single thread, and the stream is limited
/// by how fast mosquitto delivers — what the subscribers under test are to be measured against. Blocking
/// writes are the flow control: the publisher goes as fast as the broker reads.
final class BatchedPublisher: EventStream, @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let socket: Int32

    init(certificates: FabricCertificates, port: Int) throws {
        guard let context = tiesim_tls_context(certificates.caCertificate, certificates.clientCertificate("client"), certificates.clientKey("client")) else {
            throw Failure(description: "TLS context: \(MQTTTransport.openSSLError())")
        }
        self.context = context
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.socket = socket
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let connectError = errno
        guard let ssl = SSL_new(context) else {
            Glibc.close(socket)
            SSL_CTX_free(context)
            throw Failure(description: "SSL_new: \(MQTTTransport.openSSLError())")
        }
        self.ssl = ssl
        guard connected == 0 else { throw Failure(description: "connect: \(String(cString: strerror(connectError)))") }
        SSL_set_fd(ssl, socket)
        guard SSL_connect(ssl) == 1 else { throw Failure(description: "TLS handshake: \(MQTTTransport.openSSLError())") }
        // CONNECT (MQTT 3.1.1, clean session, keep-alive 60 s), then wait for a CONNACK that accepts us.
        let clientId = Array("batched-publisher-\(UUID())".utf8)
        var variable: [UInt8] = [0, 4] + Array("MQTT".utf8) + [4, 0x02, 0, 60]
        variable += [UInt8(clientId.count >> 8), UInt8(clientId.count & 0xFF)] + clientId
        try write(Self.packet(0x10, variable))
        var connack: [UInt8] = []
        var byte: UInt8 = 0
        while connack.count < 4, SSL_read(ssl, &byte, 1) == 1 { connack.append(byte) }
        guard connack.count == 4, connack[0] == 0x20, connack[3] == 0 else {
            throw Failure(description: "the broker did not accept the connection: \(connack)")
        }
    }

    deinit {
        SSL_free(ssl)
        Glibc.close(socket)
        SSL_CTX_free(context)
    }

    /// Publishes `count` QoS-0 copies of `bytes` on `topic`, as many to a TLS record as fit in 16 KB.
    func publish(bytes: [UInt8], topic: String, count: Int) throws {
        let topicBytes = Array(topic.utf8)
        let packet = Self.packet(0x30, [UInt8(topicBytes.count >> 8), UInt8(topicBytes.count & 0xFF)] + topicBytes + bytes)
        let perRecord = max(1, 16_384 / packet.count)
        let batch = Array([[UInt8]](repeating: packet, count: perRecord).joined())
        var left = count
        while left > 0 {
            let now = min(left, perRecord)
            try write(Array(batch.prefix(now * packet.count)))
            left -= now
        }
    }

    func send(_ bytes: [UInt8], topic: String, count: Int) {
        try? publish(bytes: bytes, topic: topic, count: count)
    }

    /// Sends DISCONNECT and closes the TLS session.
    func close() {
        try? write([0xE0, 0])
        SSL_shutdown(ssl)
    }

    private func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard written == bytes.count else { throw Failure(description: "write: \(MQTTTransport.openSSLError())") }
    }

    /// An MQTT packet: the fixed header's first byte, the remaining length (variable-length), the rest.
    static func packet(_ first: UInt8, _ rest: [UInt8]) -> [UInt8] {
        [first] + MQTTVariableLength.encoded(rest.count) + rest
    }
}
