/// Writes MessagePack values the way `dxlclient` 5.7.0.1 (msgpack 0.6, `use_bin_type=False`) does.
///
/// Strings and byte payloads use the old "raw" family only — fixstr, str16 (`da`), str32 (`db`) —
/// never str8 (`d9`) or bin, so that the real DXL broker and old clients read every byte we write.
/// A value type with no shared state: use one per thread.
package struct MessagePackWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Creates a writer, reserving room for `capacity` bytes.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Writes `nil`.
    public mutating func writeNil() {
        bytes.append(0xc0)
    }

    /// Writes an integer in its smallest MessagePack form, as msgpack-python packs a Python int.
    public mutating func writeInt(_ value: Int64) {
        if value >= 0 {
            writeUInt(UInt64(value))
        } else if value >= -32 {
            bytes.append(UInt8(bitPattern: Int8(value)))
        } else if value >= Int64(Int8.min) {
            bytes.append(0xd0)
            bytes.append(UInt8(bitPattern: Int8(value)))
        } else if value >= Int64(Int16.min) {
            bytes.append(0xd1)
            appendBigEndian(UInt16(bitPattern: Int16(value)))
        } else if value >= Int64(Int32.min) {
            bytes.append(0xd2)
            appendBigEndian(UInt32(bitPattern: Int32(value)))
        } else {
            bytes.append(0xd3)
            appendBigEndian(UInt64(bitPattern: value))
        }
    }

    /// Writes a non-negative integer in its smallest MessagePack form.
    public mutating func writeUInt(_ value: UInt64) {
        if value < 0x80 {
            bytes.append(UInt8(value))
        } else if value <= UInt64(UInt8.max) {
            bytes.append(0xcc)
            bytes.append(UInt8(value))
        } else if value <= UInt64(UInt16.max) {
            bytes.append(0xcd)
            appendBigEndian(UInt16(value))
        } else if value <= UInt64(UInt32.max) {
            bytes.append(0xce)
            appendBigEndian(UInt32(value))
        } else {
            bytes.append(0xcf)
            appendBigEndian(value)
        }
    }

    /// Writes a string as an old-style raw string (UTF-8 bytes).
    public mutating func writeString(_ value: String) {
        var value = value
        value.withUTF8 { writeRaw($0) }
    }

    /// Writes a string, or `nil` when there is none.
    public mutating func writeOptionalString(_ value: String?) {
        if let value { writeString(value) } else { writeNil() }
    }

    /// Writes bytes with a raw-string header: fixstr up to 31 bytes, `da` up to 65,535, `db` beyond.
    public mutating func writeRaw<Bytes: Collection>(_ raw: Bytes) where Bytes.Element == UInt8 {
        let count = raw.count
        if count < 32 {
            bytes.append(0xa0 | UInt8(count))
        } else if count <= Int(UInt16.max) {
            bytes.append(0xda)
            appendBigEndian(UInt16(count))
        } else {
            bytes.append(0xdb)
            appendBigEndian(UInt32(truncatingIfNeeded: count))
        }
        bytes.append(contentsOf: raw)
    }

    /// Appends bytes that are already MessagePack values.
    public mutating func writeEncoded(_ encoded: [UInt8]) {
        bytes.append(contentsOf: encoded)
    }

    /// Appends bytes that are already MessagePack values, from memory valid during the call.
    public mutating func writeEncoded(_ encoded: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: encoded)
    }

    /// Writes an old-style raw string of `count` bytes that `fill` writes in place.
    mutating func writeRaw(count: Int, fill: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        precondition(count >= 32 && count <= Int(UInt16.max))
        bytes.append(0xda)
        appendBigEndian(UInt16(count))
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: count))
        bytes.withUnsafeMutableBufferPointer { fill(UnsafeMutableBufferPointer(rebasing: $0[start..<(start + count)])) }
    }

    /// Writes an array header for `count` elements.
    public mutating func writeArrayHeader(_ count: Int) {
        if count < 16 {
            bytes.append(0x90 | UInt8(count))
        } else if count <= Int(UInt16.max) {
            bytes.append(0xdc)
            appendBigEndian(UInt16(count))
        } else {
            bytes.append(0xdd)
            appendBigEndian(UInt32(truncatingIfNeeded: count))
        }
    }

    /// Writes an array of strings.
    public mutating func writeStringArray(_ values: [String]) {
        writeArrayHeader(values.count)
        for value in values { writeString(value) }
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
