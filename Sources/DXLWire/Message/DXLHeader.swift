#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        guard let fields = scan(buffer) else { return nil }
        var reader = MessagePackReader(UnsafeRawBufferPointer(rebasing: buffer[fields.messageIdStart...]))
        guard let id = try? reader.readString() else { return nil }
        return DXLHeader(version: fields.version, type: fields.type, messageId: id, sourceIdsRange: fields.sourceIdsRange)
    }

    /// The bytes of `buffer`'s message id, where they lie (no `String` made): what a broker compares for
    /// each recipient of a request. nil where `read` finds no header: not a DXL message, or an id that is
    /// not UTF-8. A nil id reads as empty, as in `read`.
    public static func messageIdBytes(_ buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let fields = scan(buffer) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: buffer[fields.messageIdStart...])
        var reader = MessagePackReader(rest)
        let range: Range<Int>
        do throws(MessagePackError) {
            range = try reader.skipRaw() ?? 0..<0
        } catch {
            return nil
        }
        let bytes = UnsafeRawBufferPointer(rebasing: rest[range])
        return MessagePackReader.isUTF8(bytes) ? bytes : nil
    }

    /// The first fields of a message as `scan` finds them, nothing copied.
    public struct Fields: Equatable {
        public var version: Int
        public var type: DXLMessageType
        /// Where the encoded message id starts.
        public var messageIdStart: Int
        /// Where `source_client_id` and `source_broker_id` are, together.
        public var sourceIdsRange: Range<Int>
    }

    /// The type of `buffer` and where its source ids are, read without copying anything (what a broker
    /// needs to stamp an event); nil when it is not a DXL message. Called for every message a broker
    /// passes on: concrete types only, no `String`.
    public static func scan(_ buffer: UnsafeRawBufferPointer) -> Fields? {
        quickScan(buffer) ?? scanWithReader(buffer)
    }

    /// `scan` for the encoding every DXL client writes: version and type as positive fixints, the message
    /// id and the source ids as fixstr, str8 or str16 (raw16: msgpack's old raw, which dxlclient and this
    /// codec write for ids of 32 bytes and more), read byte by byte; nil when the bytes are encoded
    /// otherwise (or are too short), and the full reader decides.
    @inline(__always)
    package static func quickScan(_ buffer: UnsafeRawBufferPointer) -> Fields? {
        let count = buffer.count
        guard count >= 5, buffer[0] < 0x80, let type = DXLMessageType(rawValue: buffer[1]) else { return nil }
        /// Where the string at `offset` ends.
        func stringEnd(_ offset: Int) -> Int? {
            guard offset < count else { return nil }
            let marker = buffer[offset]
            let end: Int
            if marker & 0xe0 == 0xa0 {
                end = offset + 1 + Int(marker & 0x1f)
            } else if marker == 0xda, offset + 2 < count {
                end = offset + 3 + (Int(buffer[offset + 1]) << 8 | Int(buffer[offset + 2]))
            } else if marker == 0xd9, offset + 1 < count {
                end = offset + 2 + Int(buffer[offset + 1])
            } else {
                return nil
            }
            return end <= count ? end : nil
        }
        guard let idEnd = stringEnd(2), let clientEnd = stringEnd(idEnd), let brokerEnd = stringEnd(clientEnd) else { return nil }
        return Fields(version: Int(buffer[0]), type: type, messageIdStart: 2, sourceIdsRange: idEnd..<brokerEnd)
    }

    /// `scan` through the msgpack reader, for every encoding msgpack allows.
    package static func scanWithReader(_ buffer: UnsafeRawBufferPointer) -> Fields? {
        guard !buffer.isEmpty else { return nil }
        var reader = MessagePackReader(buffer)
        do throws(MessagePackError) {
            let version = try reader.readInt()
            let code = try reader.readInt()
            guard version >= 0, version <= Int64(Int32.max), code >= 0, code <= 3, let type = DXLMessageType(rawValue: UInt8(code)) else { return nil }
            let idStart = reader.offset
            try reader.skipRaw()
            let start = reader.offset
            try reader.skipRaw()
            try reader.skipRaw()
            return Fields(version: Int(version), type: type, messageIdStart: idStart, sourceIdsRange: start..<reader.offset)
        } catch {
            return nil
        }
    }

    /// Whether the bytes in `range` of `buffer` are `clientId` then `brokerId` (encoded): stamped already.
    public static func isStamped(_ buffer: UnsafeRawBufferPointer, range: Range<Int>, clientId: [UInt8], brokerId: [UInt8]) -> Bool {
        guard range.count == clientId.count + brokerId.count, let base = buffer.baseAddress else { return false }
        return clientId.withUnsafeBytes { client in
            brokerId.withUnsafeBytes { broker in
                memcmp(base + range.lowerBound, client.baseAddress!, client.count) == 0
                    && memcmp(base + range.lowerBound + client.count, broker.baseAddress!, broker.count) == 0
            }
        }
    }

    /// The length of `buffer` with the bytes in `range` replaced by the encoded `clientId` and `brokerId`.
    public static func restampedCount(_ buffer: UnsafeRawBufferPointer, range: Range<Int>, clientId: [UInt8], brokerId: [UInt8]) -> Int {
        buffer.count - range.count + clientId.count + brokerId.count
    }

    /// Writes `buffer` with the bytes in `range` replaced by the encoded `clientId` and `brokerId` into
    /// `destination` (of `restampedCount` bytes): a broker's stamp, copied straight into its own buffer.
    public static func writeRestamped(_ buffer: UnsafeRawBufferPointer, range: Range<Int>, clientId: [UInt8], brokerId: [UInt8], into destination: UnsafeMutableRawPointer) {
        guard let base = buffer.baseAddress else { return }
        var position = destination
        position.copyMemory(from: base, byteCount: range.lowerBound)
        position += range.lowerBound
        func append(_ value: [UInt8]) {
            value.withUnsafeBytes { bytes in
                if let address = bytes.baseAddress { position.copyMemory(from: address, byteCount: bytes.count) }
            }
            position += value.count
        }
        append(clientId)
        append(brokerId)
        position.copyMemory(from: base + range.upperBound, byteCount: buffer.count - range.upperBound)
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
