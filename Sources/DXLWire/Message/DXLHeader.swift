/// The first fields of an encoded DXL message, read without decoding the rest: what a broker needs to
/// route most messages (the type and the id), and where the source ids sit so they can be replaced
/// by copying bytes around them.
public struct DXLHeader: Sendable, Equatable {
    /// The wire version.
    public var version: Int
    /// The message type.
    public var type: DXLMessageType
    /// The message id.
    public var messageId: String
    /// Where `source_client_id` and `source_broker_id` are, together, in the encoded bytes.
    public var sourceIdsRange: Range<Int>

    /// Reads the header of `buffer`; nil when it is not a DXL message.
    public static func read(_ buffer: UnsafeRawBufferPointer) -> DXLHeader? {
        walk(buffer, readingId: true).map { DXLHeader(version: $0.version, type: $0.type, messageId: $0.id ?? "", sourceIdsRange: $0.sourceIds) }
    }

    /// The type of `buffer` and where its source ids are, read without copying anything (what a broker
    /// needs to stamp an event); nil when it is not a DXL message.
    public static func scan(_ buffer: UnsafeRawBufferPointer) -> (type: DXLMessageType, sourceIdsRange: Range<Int>)? {
        walk(buffer, readingId: false).map { ($0.type, $0.sourceIds) }
    }

    /// The fields up to the source ids; the message id is made a `String` only when asked for.
    private static func walk(_ buffer: UnsafeRawBufferPointer, readingId: Bool) -> (version: Int, type: DXLMessageType, id: String?, sourceIds: Range<Int>)? {
        guard !buffer.isEmpty else { return nil }
        var reader = MessagePackReader(buffer)
        do throws(MessagePackError) {
            let version = try reader.readInt()
            let code = try reader.readInt()
            guard version >= 0, version <= Int64(Int32.max), code >= 0, code <= 3, let type = DXLMessageType(rawValue: UInt8(code)) else { return nil }
            var id: String?
            if readingId { id = try reader.readString() } else { try reader.skipRaw() }
            let start = reader.offset
            try reader.skipRaw()
            try reader.skipRaw()
            return (Int(version), type, id, start..<reader.offset)
        } catch {
            return nil
        }
    }

    /// The length of `buffer` with the bytes in `range` replaced by `replacement` (encoded values).
    public static func restampedCount(_ buffer: UnsafeRawBufferPointer, range: Range<Int>, replacement: [[UInt8]]) -> Int {
        buffer.count - range.count + replacement.reduce(0) { $0 + $1.count }
    }

    /// Writes `buffer` with the bytes in `range` replaced by the encoded values `replacement` into
    /// `destination` (of `restampedCount` bytes): a broker's stamp, copied straight into its own buffer.
    public static func writeRestamped(_ buffer: UnsafeRawBufferPointer, range: Range<Int>, replacement: [[UInt8]], into destination: UnsafeMutableRawPointer) {
        var position = destination
        if let base = buffer.baseAddress, range.lowerBound > 0 {
            position.copyMemory(from: base, byteCount: range.lowerBound)
            position += range.lowerBound
        }
        for value in replacement {
            value.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { position.copyMemory(from: base, byteCount: bytes.count) }
            }
            position += value.count
        }
        if let base = buffer.baseAddress, range.upperBound < buffer.count {
            position.copyMemory(from: base + range.upperBound, byteCount: buffer.count - range.upperBound)
        }
    }

    /// `value` encoded as a msgpack string.
    public static func encodedString(_ value: String) -> [UInt8] {
        var writer = MessagePackWriter(capacity: value.utf8.count + 5)
        writer.writeString(value)
        return writer.bytes
    }

    /// The message type of `buffer` from its first bytes alone (both are positive fixints in every
    /// message a DXL client writes); nil when they are encoded otherwise.
    @inline(__always)
    public static func quickType(_ buffer: UnsafeRawBufferPointer) -> DXLMessageType? {
        guard buffer.count >= 2, buffer[0] < 0x80, buffer[1] < 0x80 else { return nil }
        return DXLMessageType(rawValue: buffer[1])
    }
}
