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
        guard !buffer.isEmpty else { return nil }
        var reader = MessagePackReader(buffer)
        do throws(MessagePackError) {
            let version = try reader.readInt()
            let code = try reader.readInt()
            guard version >= 0, version <= Int64(Int32.max), code >= 0, code <= 3, let type = DXLMessageType(rawValue: UInt8(code)) else { return nil }
            let id = try reader.readString()
            let start = reader.offset
            _ = try reader.readString()
            _ = try reader.readString()
            return DXLHeader(version: Int(version), type: type, messageId: id, sourceIdsRange: start..<reader.offset)
        } catch {
            return nil
        }
    }

    /// The message type of `buffer` from its first bytes alone (both are positive fixints in every
    /// message a DXL client writes); nil when they are encoded otherwise.
    @inline(__always)
    public static func quickType(_ buffer: UnsafeRawBufferPointer) -> DXLMessageType? {
        guard buffer.count >= 2, buffer[0] < 0x80, buffer[1] < 0x80 else { return nil }
        return DXLMessageType(rawValue: buffer[1])
    }

    /// `buffer` with `source_client_id` and `source_broker_id` replaced, every other byte as it was
    /// (the broker's stamp on what a client publishes).
    public func restamped(_ buffer: UnsafeRawBufferPointer, sourceClientId: String, sourceBrokerId: String) -> [UInt8] {
        var writer = MessagePackWriter(capacity: buffer.count + sourceClientId.utf8.count + sourceBrokerId.utf8.count + 8)
        writer.writeEncoded(UnsafeRawBufferPointer(rebasing: buffer[..<sourceIdsRange.lowerBound]))
        writer.writeString(sourceClientId)
        writer.writeString(sourceBrokerId)
        writer.writeEncoded(UnsafeRawBufferPointer(rebasing: buffer[sourceIdsRange.upperBound...]))
        return writer.bytes
    }
}
