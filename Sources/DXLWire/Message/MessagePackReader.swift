/// Why a MessagePack value could not be read.
public enum MessagePackError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended inside a value that starts at `offset`.
    case truncated(offset: Int)
    /// The byte at `offset` starts a value of another kind than `expected`.
    case unexpectedType(expected: String, byte: UInt8, offset: Int)
    /// A string's bytes are not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// An array announces more elements than the input could possibly hold.
    case implausibleLength(offset: Int, length: Int)

    public var description: String {
        switch self {
        case .truncated(let offset):
            return "input ends inside the value at byte \(offset)"
        case .unexpectedType(let expected, let byte, let offset):
            return "expected \(expected) at byte \(offset), found type byte 0x\(String(byte, radix: 16))"
        case .invalidUTF8(let offset):
            return "string at byte \(offset) is not valid UTF-8"
        case .implausibleLength(let offset, let length):
            return "array at byte \(offset) claims \(length) elements, more than the input holds"
        }
    }
}

/// Reads MessagePack values one after another from a byte buffer, as DXL's streaming unpacker does.
///
/// Every read checks bounds first, so malformed input gives a `MessagePackError`, never a crash
/// and never a hang (lengths are checked against the bytes that remain before anything is allocated).
/// A value type with no shared state: use one per thread.
package struct MessagePackReader: ~Copyable {
    private let base: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    /// Reads from `buffer`, which must stay valid for the reader's lifetime.
    public init(_ buffer: UnsafeRawBufferPointer) {
        base = buffer
        offset = 0
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= base.count }

    private var remaining: Int { base.count - offset }

    private mutating func readByte() throws(MessagePackError) -> UInt8 {
        guard offset < base.count else { throw .truncated(offset: offset) }
        let byte = base[offset]
        offset += 1
        return byte
    }

    /// Reads `size` bytes big-endian (1, 2, 4 or 8). Not generic: this is the hot path of every decode.
    private mutating func readBigEndian(size: Int, start: Int) throws(MessagePackError) -> UInt64 {
        guard remaining >= size else { throw .truncated(offset: start) }
        var value: UInt64 = 0
        for index in 0..<size {
            value = (value << 8) | UInt64(base[offset + index])
        }
        offset += size
        return value
    }

    /// Reads any integer format (positive/negative fixint, uint8–64, int8–64).
    public mutating func readInt() throws(MessagePackError) -> Int64 {
        let start = offset
        let byte = try readByte()
        switch byte {
        case 0x00...0x7f: return Int64(byte)
        case 0xe0...0xff: return Int64(Int8(bitPattern: byte))
        case 0xcc: return Int64(try readBigEndian(size: 1, start: start))
        case 0xcd: return Int64(try readBigEndian(size: 2, start: start))
        case 0xce: return Int64(try readBigEndian(size: 4, start: start))
        case 0xcf: return Int64(bitPattern: try readBigEndian(size: 8, start: start))
        case 0xd0: return Int64(Int8(truncatingIfNeeded: try readBigEndian(size: 1, start: start)))
        case 0xd1: return Int64(Int16(truncatingIfNeeded: try readBigEndian(size: 2, start: start)))
        case 0xd2: return Int64(Int32(truncatingIfNeeded: try readBigEndian(size: 4, start: start)))
        case 0xd3: return Int64(bitPattern: try readBigEndian(size: 8, start: start))
        default:
            offset = start
            throw .unexpectedType(expected: "an integer", byte: byte, offset: start)
        }
    }

    /// Reads the header of a raw string or bin value and returns the range of its bytes, or nil for `nil`.
    private mutating func readRawRange() throws(MessagePackError) -> Range<Int>? {
        let start = offset
        let byte = try readByte()
        let length: Int
        switch byte {
        case 0xa0...0xbf: length = Int(byte & 0x1f)
        case 0xd9, 0xc4: length = Int(try readBigEndian(size: 1, start: start))
        case 0xda, 0xc5: length = Int(try readBigEndian(size: 2, start: start))
        case 0xdb, 0xc6: length = Int(try readBigEndian(size: 4, start: start))
        case 0xc0: return nil
        default:
            offset = start
            throw .unexpectedType(expected: "a string", byte: byte, offset: start)
        }
        guard remaining >= length else {
            offset = start
            throw .truncated(offset: start)
        }
        let range = offset..<(offset + length)
        offset += length
        return range
    }

    /// Skips a string or bin value (or `nil`) without copying it; returns the range of its bytes.
    @discardableResult
    public mutating func skipRaw() throws(MessagePackError) -> Range<Int>? {
        try readRawRange()
    }

    /// Reads a string (raw, str8 or bin, as Python's `raw=True` unpacker accepts); `nil` reads as nil.
    public mutating func readOptionalString() throws(MessagePackError) -> String? {
        let start = offset
        guard let range = try readRawRange() else { return nil }
        guard !range.isEmpty, let address = base.baseAddress else { return "" }
        let bytes = UnsafeRawBufferPointer(start: address.advanced(by: range.lowerBound), count: range.count)
        guard Self.isUTF8(bytes) else {
            offset = start
            throw .invalidUTF8(offset: start)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `bytes` are UTF-8, as a string must be: ASCII (ids, topics) is checked byte by byte, anything
    /// else validated.
    public static func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
    }

    /// Reads a string; `nil` reads as the empty string.
    public mutating func readString() throws(MessagePackError) -> String {
        try readOptionalString() ?? ""
    }

    /// Reads raw bytes (a string or bin value); `nil` reads as no bytes.
    public mutating func readBytes() throws(MessagePackError) -> [UInt8] {
        guard let range = try readRawRange(), !range.isEmpty, let address = base.baseAddress else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: address.advanced(by: range.lowerBound), count: range.count))
    }

    /// Reads an array header and returns its element count, checked against the bytes left
    /// (each element takes at least one byte), so a hostile count cannot make us allocate.
    public mutating func readArrayHeader() throws(MessagePackError) -> Int {
        let start = offset
        let byte = try readByte()
        let count: Int
        switch byte {
        case 0x90...0x9f: count = Int(byte & 0x0f)
        case 0xdc: count = Int(try readBigEndian(size: 2, start: start))
        case 0xdd: count = Int(try readBigEndian(size: 4, start: start))
        case 0xc0: count = 0
        default:
            offset = start
            throw .unexpectedType(expected: "an array", byte: byte, offset: start)
        }
        guard count <= remaining else {
            offset = start
            throw .implausibleLength(offset: start, length: count)
        }
        return count
    }

    /// Reads an array of strings (`nil` elements read as empty strings; a `nil` array as empty).
    public mutating func readStringArray() throws(MessagePackError) -> [String] {
        let count = try readArrayHeader()
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try readString()) }
        return values
    }
}
