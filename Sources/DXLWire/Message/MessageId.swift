import Synchronization

/// Fast generation of `dxlclient`-style message ids: `{xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx}`, lowercase.
///
/// `UUID().uuidString.lowercased()` costs about a microsecond and a system call per id, which showed in
/// the publish path. Here each id mixes a random per-process seed with an atomic counter through
/// SplitMix64: unique within the process, unpredictable across processes, and version-4 shaped.
/// Thread-safe (one atomic increment per id).
enum MessageId {
    private static let seed: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()
    private static let counter = Atomic<UInt64>(0)

    private static func mix(_ value: UInt64) -> UInt64 {
        SplitMix64.mix(value &+ 0x9E37_79B9_7F4A_7C15)
    }

    /// Characters in an id.
    static let length = 38

    static func make() -> String {
        String(unsafeUninitializedCapacity: length) { buffer in
            fill(buffer)
            return length
        }
    }

    /// Writes a new id as a MessagePack string.
    static func write(to writer: inout MessagePackWriter) {
        writer.writeRaw(count: length, fill: fill)
    }

    /// Writes a new id into the first `length` bytes of `buffer`.
    private static func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        let count = counter.add(1, ordering: .relaxed).newValue
        // The low half is a bijection of the counter, so ids never repeat within a process.
        let high = (mix(seed.0 ^ count) & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let low = seed.1 ^ mix(count &* 0xD6E8_FEB8_6659_FD93)
        let lowVariant = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let digits: StaticString = "0123456789abcdef"
        var index = 0
        func put(_ byte: UInt8) {
            buffer[index] = byte
            index += 1
        }
        func putHex(_ value: UInt64, nibbles: Int) {
            digits.withUTF8Buffer { table in
                var shift = (nibbles - 1) * 4
                while shift >= 0 {
                    put(table[Int((value >> UInt64(shift)) & 0xf)])
                    shift -= 4
                }
            }
        }
        put(UInt8(ascii: "{"))
        putHex(high >> 32, nibbles: 8)
        put(UInt8(ascii: "-"))
        putHex((high >> 16) & 0xffff, nibbles: 4)
        put(UInt8(ascii: "-"))
        putHex(high & 0xffff, nibbles: 4)
        put(UInt8(ascii: "-"))
        putHex(lowVariant >> 48, nibbles: 4)
        put(UInt8(ascii: "-"))
        putHex(lowVariant & 0xffff_ffff_ffff, nibbles: 12)
        put(UInt8(ascii: "}"))
    }
}
