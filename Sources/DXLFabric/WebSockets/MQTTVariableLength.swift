/// MQTT's variable byte integer — a packet's remaining length, an MQTT 5 property length: 7 bits a
/// byte, least significant first, a set high bit saying another byte follows, at most four bytes.
package enum MQTTVariableLength {
    /// What the bytes at the start of a collection hold.
    package enum Decoded: Equatable {
        /// The value, and how many bytes it took.
        case value(Int, byteCount: Int)
        /// The bytes end before the integer does.
        case incomplete
        /// More than four bytes.
        case malformed
    }

    package static func encoded(_ value: Int) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        repeat {
            var byte = UInt8(value % 128)
            value /= 128
            if value > 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value > 0
        return bytes
    }

    package static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Decoded {
        var value = 0
        var multiplier = 1
        var count = 0
        for byte in bytes.prefix(4) {
            value += Int(byte & 0x7f) * multiplier
            multiplier *= 128
            count += 1
            if byte & 0x80 == 0 { return .value(value, byteCount: count) }
        }
        return count == 4 ? .malformed : .incomplete
    }
}
