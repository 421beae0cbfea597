#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why bytes are not a JSON value; `offset` is the byte where reading stopped.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Output layouts.
    public enum Style: Sendable {
        /// No spaces: `{"a":1,"b":[1,2]}`.
        case compact
        /// Python's `json.dumps` default separators: `{"a": 1, "b": [1, 2]}`.
        case python
        /// Python's `json.dumps(indent=n)`: newlines and n spaces a level, `": "` after keys.
        case indented(Int)
    }

    /// Parses UTF-8 JSON. Nesting deeper than `maxDepth` is refused, so hostile input cannot
    /// exhaust the stack.
    public static func parse<Bytes: Collection>(_ bytes: Bytes, maxDepth: Int = 512) throws(JSONParseError) -> JSONValue where Bytes.Element == UInt8 {
        var parser = JSONParser(bytes: Array(bytes), maxDepth: maxDepth)
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected data after the value") }
        return value
    }

    /// Parses JSON text.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// The value as JSON text; `sortedKeys: false` writes members in their order (`JSONObject`).
    public func serialized(style: Style = .compact, sortedKeys: Bool = true) -> String {
        String(decoding: serializedBytes(style: style, sortedKeys: sortedKeys), as: UTF8.self)
    }

    /// The value as UTF-8 JSON bytes; `sortedKeys: false` writes members in their order.
    public func serializedBytes(style: Style = .compact, sortedKeys: Bool = true) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(to: &output, style: style, sortedKeys: sortedKeys, level: 0)
        return output
    }

    /// The value as UTF-8 JSON bytes (compact, sorted keys).
    public var bytes: [UInt8] { serializedBytes() }

    private func write(to output: inout [UInt8], style: Style, sortedKeys: Bool, level: Int) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): output.append(contentsOf: String(value).utf8)
        case .double(let value): output.append(contentsOf: Self.formatDouble(value).utf8)
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let elements):
            if elements.isEmpty { output.append(contentsOf: "[]".utf8); return }
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(contentsOf: style.itemSeparator.utf8) }
                style.newline(&output, level: level + 1)
                element.write(to: &output, style: style, sortedKeys: sortedKeys, level: level + 1)
            }
            style.newline(&output, level: level)
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty { output.append(contentsOf: "{}".utf8); return }
            output.append(UInt8(ascii: "{"))
            var first = true
            func write(_ key: String, _ value: JSONValue) {
                if !first { output.append(contentsOf: style.itemSeparator.utf8) }
                first = false
                style.newline(&output, level: level + 1)
                Self.writeString(key, to: &output)
                output.append(contentsOf: style.keySeparator.utf8)
                value.write(to: &output, style: style, sortedKeys: sortedKeys, level: level + 1)
            }
            if sortedKeys {
                // Each key read as an integer once, not at every comparison; positions sorted, not members.
                let list = members.orderedMembers
                let numbers = list.map { Self.integerKey($0.key) }
                let order = list.indices.sorted { Self.keyOrder(numbers[$0], list[$0].key, numbers[$1], list[$1].key) }
                for position in order { write(list[position].key, list[position].value) }
            } else {
                for member in members { write(member.key, member.value) }
            }
            style.newline(&output, level: level)
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Key order of `sort_keys=True`, with the keys' integers (`integerKey`) already read: Python dicts
    /// keyed by ints (reputations by provider id) sort numerically, string keys by code point. Python
    /// cannot sort a mix of the two; here integers come first, so that the order is total and equal
    /// objects print alike.
    static func keyOrder(_ x: Int?, _ a: String, _ y: Int?, _ b: String) -> Bool {
        switch (x, y) {
        case let (x?, y?): return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return compareUTF8(a, b) < 0
        }
    }

    /// `a` against `b` by their UTF-8 bytes, as Python compares strings (UTF-8's byte order is its code
    /// points' order): negative when `a` comes first, zero when the bytes are the same (Swift's `==`
    /// also calls canonically equivalent texts equal).
    static func compareUTF8(_ a: String, _ b: String) -> Int {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let shared = min(x.count, y.count)
                let order = shared == 0 ? 0 : Int(memcmp(x.baseAddress!, y.baseAddress!, shared))
                return order != 0 ? order : x.count - y.count
            }
        }
    }

    /// The integer `key` spells as Python's `str(int)` writes one ("5", "-3"; not "05", "-0" or "+5").
    static func integerKey(_ key: String) -> Int? {
        var bytes = key.utf8.makeIterator()
        guard var first = bytes.next() else { return nil }
        if first == UInt8(ascii: "-") {
            guard let next = bytes.next() else { return nil }
            first = next
            if first == UInt8(ascii: "0") { return nil }
        }
        guard first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { return nil }
        if first == UInt8(ascii: "0") { return key == "0" ? 0 : nil }
        return Int(key)
    }

    static func formatDouble(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity") }
        if value == value.rounded() && abs(value) < 1e16 { return String(Int64(value)) + ".0" }
        return String(value)
    }

    /// Writes a string as Python's `json.dumps` does by default (`ensure_ascii`): non-ASCII as `\uXXXX`.
    public static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Fast path: printable ASCII without quotes or backslashes is copied as is.
            if utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }) {
                output.append(contentsOf: utf8)
                return
            }
            for unit in String(decoding: utf8, as: UTF8.self).utf16 {
                switch unit {
                case 0x22: output.append(contentsOf: "\\\"".utf8)
                case 0x5c: output.append(contentsOf: "\\\\".utf8)
                case 0x0a: output.append(contentsOf: "\\n".utf8)
                case 0x0d: output.append(contentsOf: "\\r".utf8)
                case 0x09: output.append(contentsOf: "\\t".utf8)
                case 0x08: output.append(contentsOf: "\\b".utf8)
                case 0x0c: output.append(contentsOf: "\\f".utf8)
                case 0x20..<0x7f: output.append(UInt8(unit))
                default:
                    let hex = String(unit, radix: 16)
                    output.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                }
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

extension JSONValue.Style {
    var itemSeparator: String {
        switch self {
        case .compact: return ","
        case .python: return ", "
        case .indented: return ","
        }
    }
    var keySeparator: String {
        switch self {
        case .compact: return ":"
        case .python, .indented: return ": "
        }
    }
    func newline(_ output: inout [UInt8], level: Int) {
        if case .indented(let width) = self {
            output.append(UInt8(ascii: "\n"))
            output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: width * level))
        }
    }
}

/// A recursive-descent JSON parser over bytes, with bounds checks on every read and a depth limit.
struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var index = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0a, 0x0d, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "N"): try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try expect("Infinity"); return .double(.infinity)
        default: return try parseNumber()
        }
    }

    mutating func expect(_ word: String) throws(JSONParseError) {
        for byte in word.utf8 {
            guard index < bytes.count, bytes[index] == byte else { throw error("expected '\(word)'") }
            index += 1
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object([:]) }
        // TIE's objects have a handful of members: room for them up front saves rehashing as they come.
        var members = JSONObject(minimumCapacity: 8)
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            index += 1
            members[key] = try parseValue(depth: depth + 1)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input in an object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input in a list") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw error("expected ',' or ']' in a list")
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "I") { try expect("Infinity"); return .double(-.infinity) }
        }
        // Integers (all TIE sends) are read directly; anything else goes through the standard conversions.
        var magnitude: UInt64 = 0
        var digits = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                magnitude = magnitude &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                digits += 1
                index += 1
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") {
                isInteger = false
                index += 1
            } else {
                break
            }
        }
        let negative = bytes[start] == UInt8(ascii: "-")
        if isInteger && digits > 0 && digits <= 18 && (digits == 1 || bytes[start + (negative ? 1 : 0)] != UInt8(ascii: "0")) {
            return .int(negative ? -Int64(magnitude) : Int64(magnitude))
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard !text.isEmpty, text != "-" else { throw error("unexpected character") }
        // JSON's grammar, stricter than Swift's conversions: no leading zeros, no '+', digits on both
        // sides of the point (as Python's json reads them).
        guard Self.isJSONNumber(bytes[start..<index]) else {
            index = start
            throw error("malformed number '\(text)'")
        }
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text) else {
            index = start
            throw error("malformed number '\(text)'")
        }
        return .double(value)
    }

    /// Whether `text` is a number as JSON writes one: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isJSONNumber(_ text: ArraySlice<UInt8>) -> Bool {
        var index = text.startIndex
        func digits() -> Int {
            let from = index
            while index < text.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) { index += 1 }
            return index - from
        }
        if index < text.endIndex, text[index] == UInt8(ascii: "-") { index += 1 }
        guard index < text.endIndex else { return false }
        if text[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return false
        }
        if index < text.endIndex, text[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < text.endIndex, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index += 1
            if index < text.endIndex, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == text.endIndex
    }

    mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        var runStart = index
        var result = ""
        // Whether the run since `runStart` is ASCII, which needs no UTF-8 validation.
        var ascii = true
        func flush(_ end: Int) throws(JSONParseError) {
            guard end > runStart else { return }
            let run: String
            if ascii {
                run = bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[runStart..<end]), as: UTF8.self) }
            } else {
                guard let valid = String(validating: bytes[runStart..<end], as: UTF8.self) else {
                    throw JSONParseError(offset: runStart, reason: "string is not valid UTF-8")
                }
                run = valid
            }
            if result.isEmpty { result = run } else { result += run }
            ascii = true
        }
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                try flush(index)
                index += 1
                return result
            }
            if byte >= 0x80 { ascii = false }
            if byte < 0x20 { throw error("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                try flush(index)
                index += 1
                guard index < bytes.count else { throw error("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): result += "\""
                case UInt8(ascii: "\\"): result += "\\"
                case UInt8(ascii: "/"): result += "/"
                case UInt8(ascii: "b"): result += "\u{08}"
                case UInt8(ascii: "f"): result += "\u{0c}"
                case UInt8(ascii: "n"): result += "\n"
                case UInt8(ascii: "r"): result += "\r"
                case UInt8(ascii: "t"): result += "\t"
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    // A surrogate must come in a pair (high, then low): a lone one is no character.
                    if (0xDC00...0xDFFF).contains(code) { throw error("a lone low surrogate \\u\(String(code, radix: 16))") }
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("a lone high surrogate \\u\(String(code, radix: 16))")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("a high surrogate \\u\(String(code, radix: 16)) not followed by a low one") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    result.unicodeScalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                default:
                    throw error("unknown escape '\\\(Character(Unicode.Scalar(escape)))'")
                }
                runStart = index
                continue
            }
            index += 1
        }
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("bad hex digit in \\u escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}
