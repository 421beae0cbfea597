/// The first MQTT packet a WebSocket client sends, CONNECT, rewritten before it reaches the broker: its
/// user name becomes the identity of the client's certificate (checked by the WebSocket listener's TLS
/// handshake) and its password the secret the broker's plugin expects on its internal listener. So the
/// broker knows the client by its certificate, as it knows a client of its TLS listener, and a client
/// cannot claim an identity by naming one. A plain value.
package struct MQTTConnectRewriter {
    /// Why a first packet was refused.
    package struct Refusal: Error, Equatable, CustomStringConvertible {
        package let description: String
    }

    /// The largest CONNECT accepted (client id, will message and credentials included).
    package static let maxConnectSize = 65_536

    private var buffered: [UInt8] = []
    private var done = false

    package init() {}

    /// Takes the client's next bytes; returns what to send to the broker (nothing until CONNECT is whole,
    /// then the rewritten CONNECT and everything after it, then bytes as they come).
    package mutating func feed(_ bytes: [UInt8], identity: String, secret: String) throws(Refusal) -> [UInt8] {
        if done { return bytes }
        buffered += bytes
        guard let first = buffered.first else { return [] }
        guard first == 0x10 else { throw Refusal(description: "the first MQTT packet is not CONNECT") }
        let length: Int, index: Int
        switch MQTTVariableLength.decode(buffered.dropFirst()) {
        case .incomplete: return []
        case .malformed: throw Refusal(description: "a malformed packet length")
        case .value(let value, let byteCount): (length, index) = (value, 1 + byteCount)
        }
        guard length <= Self.maxConnectSize else { throw Refusal(description: "a CONNECT of \(length) bytes") }
        guard buffered.count >= index + length else { return [] }
        let body = Array(buffered[index..<(index + length)])
        let rest = Array(buffered[(index + length)...])
        buffered = []
        done = true
        return try Self.rewrite(body: body, identity: identity, secret: secret) + rest
    }

    /// A CONNECT packet whose body is `body` with the credentials replaced.
    static func rewrite(body: [UInt8], identity: String, secret: String) throws(Refusal) -> [UInt8] {
        var reader = Reader(bytes: body)
        let protocolName = try reader.field()
        let level = try reader.byte()
        guard (protocolName == Array("MQTT".utf8) && (level == 4 || level == 5)) || (protocolName == Array("MQIsdp".utf8) && level == 3) else {
            throw Refusal(description: "an unknown MQTT protocol (level \(level))")
        }
        let flags = try reader.byte()
        let keepAlive = try reader.bytes(2)
        var properties: [UInt8] = []
        if level == 5 { properties = try reader.properties() }
        let clientId = try reader.field()
        var will: [UInt8] = []
        if flags & 0x04 != 0 {
            if level == 5 { will += try reader.properties() }
            will += Self.encode(try reader.field())
            will += Self.encode(try reader.field())
        }
        if flags & 0x80 != 0 { _ = try reader.field() }
        if flags & 0x40 != 0 { _ = try reader.field() }
        guard reader.atEnd else { throw Refusal(description: "bytes after the CONNECT payload") }
        var out = Self.encode(protocolName) + [level, flags | 0xc0] + keepAlive + properties
        out += Self.encode(clientId) + will + Self.encode(Array(identity.utf8)) + Self.encode(Array(secret.utf8))
        return [0x10] + MQTTVariableLength.encoded(out.count) + out
    }

    private static func encode(_ field: [UInt8]) -> [UInt8] { [UInt8(field.count >> 8), UInt8(field.count & 0xff)] + field }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0
        var atEnd: Bool { index == bytes.count }
        mutating func byte() throws(Refusal) -> UInt8 { try self.bytes(1)[0] }
        mutating func bytes(_ count: Int) throws(Refusal) -> [UInt8] {
            guard index + count <= bytes.count else { throw Refusal(description: "a truncated CONNECT") }
            defer { index += count }
            return Array(bytes[index..<(index + count)])
        }
        mutating func field() throws(Refusal) -> [UInt8] {
            let length = try bytes(2)
            return try bytes(Int(length[0]) << 8 | Int(length[1]))
        }
        /// MQTT 5 properties, returned with their length prefix.
        mutating func properties() throws(Refusal) -> [UInt8] {
            let start = index
            switch MQTTVariableLength.decode(bytes[index...]) {
            case .incomplete: throw Refusal(description: "a truncated CONNECT")
            case .malformed: throw Refusal(description: "a malformed properties length")
            case .value(let length, let byteCount): _ = try bytes(byteCount + length)
            }
            return Array(bytes[start..<index])
        }
    }
}
