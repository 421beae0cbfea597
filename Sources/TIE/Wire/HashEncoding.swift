import DXLWire
import Foundation

/// Why a hash could not be read.
public enum HashEncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    case notHex(String)
    case notBase64(String)
    /// `hashes` is not a list of `{type, value}` (Python's transform raises on it too).
    case notAHashList(String)
    public var description: String {
        switch self {
        case .notAHashList(let value): return "'hashes' must be a list of {type, value}, not \(value)"
        case .notHex(let value): return "'\(value)' is not a hex digest"
        case .notBase64(let value): return "'\(value)' is not base64"
        }
    }
}

/// The hash conversions of `dxltieclient` (`_hex_to_base64`, `_base64_to_hex`, `_transform_hashes`).
public enum HashEncoding {
    /// Decodes hex (either case) to bytes.
    public static func bytes(hex: String) throws(HashEncodingError) -> [UInt8] {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { throw .notHex(hex) }
        var result: [UInt8] = []
        result.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { throw .notHex(hex) }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Lowercase hex of `bytes`.
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hex(Array(bytes))
    }

    /// Lowercase hex of `bytes`.
    public static func hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        // Written straight into the string's storage: every hash of every TIE event passes through here.
        String(unsafeUninitializedCapacity: bytes.count * 2) { output in
            var index = 0
            for byte in bytes {
                output[index] = hexDigit(byte >> 4)
                output[index + 1] = hexDigit(byte & 0xf)
                index += 2
            }
            return index
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Hex → standard base64, as `_hex_to_base64`.
    public static func base64(hex: String) throws(HashEncodingError) -> String {
        Data(try bytes(hex: hex)).base64EncodedString()
    }

    /// Base64 → lowercase hex, as `_base64_to_hex`.
    public static func hex(base64: String) throws(HashEncodingError) -> String {
        guard let bytes = decodeBase64(base64) else { throw .notBase64(base64) }
        return hex(bytes)
    }

    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()

    /// Standard base64 (with `=` padding) → bytes; nil when it is not base64. Hashes arrive in every
    /// TIE event, so this avoids Foundation's slower general decoder.
    public static func decodeBase64(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count % 4 == 0 else { return nil }
            var output: [UInt8] = []
            output.reserveCapacity(utf8.count / 4 * 3)
            var index = 0
            while index < utf8.count {
                let a = base64Values[Int(utf8[index])], b = base64Values[Int(utf8[index + 1])]
                let cByte = utf8[index + 2], dByte = utf8[index + 3]
                guard a != 0xff, b != 0xff else { return nil }
                output.append(a << 2 | b >> 4)
                if cByte == UInt8(ascii: "=") {
                    guard dByte == UInt8(ascii: "="), index + 4 == utf8.count else { return nil }
                    break
                }
                let c = base64Values[Int(cByte)]
                guard c != 0xff else { return nil }
                output.append((b & 0x0f) << 4 | c >> 2)
                if dByte == UInt8(ascii: "=") {
                    guard index + 4 == utf8.count else { return nil }
                    break
                }
                let d = base64Values[Int(dByte)]
                guard d != 0xff else { return nil }
                output.append((c & 0x03) << 6 | d)
                index += 4
            }
            return output
        }
    }

    /// `[{"type": T, "value": b64}, …]` → `{T: hex, …}`, as `_transform_hashes`.
    public static func transformHashes(_ list: JSONValue) throws(HashEncodingError) -> JSONValue {
        guard case .array(let entries) = list else { throw .notAHashList(list.kindDescription) }
        var result = JSONObject(minimumCapacity: entries.count)
        for entry in entries {
            guard let type = entry["type"]?.stringValue, let value = entry["value"]?.stringValue else {
                throw .notBase64(entry.description)
            }
            result[type] = .string(try hex(base64: value))
        }
        return .object(result)
    }

    /// `{T: hex}` → `[{"type": T, "value": b64}]` in the order given, as `dxltieclient` builds requests.
    public static func hashList(_ hashes: [(type: String, hex: String)]) throws(HashEncodingError) -> JSONValue {
        var list: [JSONValue] = []
        for (type, hexValue) in hashes {
            list.append(.object(["type": .string(type), "value": .string(try base64(hex: hexValue))]))
        }
        return .array(list)
    }
}
