/// Reads the YAML that scenario files are made of — block mappings and lists, one-line flow `{...}`
/// and `[...]`, plain and quoted one-line scalars, comments — several times faster than composing a
/// Yams tree, and gives up (nil) on anything else: anchors, aliases, tags, block and multi-line
/// scalars, several documents, tabs and control characters, duplicate keys and every mistake. The caller
/// then reads the text with Yams, which also words the mistakes. It therefore never has to agree with
/// libyaml on an error, only on the trees of the documents it accepts.
///
/// (Over 400 lines on purpose: one pass whose methods share the cursor and the line count; split into
/// files, each part would reach into the others' private state.)
package struct QuickYAMLReader {
    struct Unsupported: Error {}

    private let bytes: UnsafeBufferPointer<UInt8>
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    /// Indentation of the current content line; -1 at the end of the text.
    private var indent = 0
    private var depth = 0

    /// Whether every byte is a character, so that columns are byte offsets.
    private let ascii: Bool

    private init(bytes: UnsafeBufferPointer<UInt8>, ascii: Bool) {
        self.bytes = bytes
        self.ascii = ascii
    }

    package static func read(_ text: String) -> YAMLNode? {
        var text = text
        return text.withUTF8 { buffer -> YAMLNode? in
            guard let ascii = printable(buffer) else { return nil }
            var reader = QuickYAMLReader(bytes: buffer, ascii: ascii)
            return try? reader.document()
        }
    }

    /// Whether the text is ASCII (true), other printable UTF-8 (false) or holds what libyaml refuses or
    /// reads as a line break (nil): tabs, carriage returns, control characters, byte order marks, U+0085,
    /// U+2028 and U+2029 are left to libyaml.
    private static func printable(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool? {
        var ascii = true
        var index = 0
        while index < bytes.count {
            let value = bytes[index]
            index += 1
            if value < 0x80 {
                if (value < 0x20 && value != newline) || value == 0x7f { return nil }
                continue
            }
            ascii = false
            let next = index < bytes.count ? bytes[index] : 0, after = index + 1 < bytes.count ? bytes[index + 1] : 0
            if value == 0xc2 && next < 0xa0 { return nil }  // U+0080...U+009F
            if value == 0xe2 && next == 0x80 && (after == 0xa8 || after == 0xa9) { return nil }
            if value == 0xef && ((next == 0xbb && after == 0xbf) || (next == 0xbf && after >= 0xbe)) { return nil }
        }
        return ascii
    }

    private mutating func document() throws(Unsupported) -> YAMLNode {
        try seekContent()
        guard indent >= 0 else { throw Unsupported() }  // empty: Yams says so
        let root = try blockNode()
        guard indent < 0 else { throw Unsupported() }
        return root
    }

    // MARK: Lines

    private func byte(_ offset: Int = 0) -> UInt8 {
        let index = pos + offset
        return index < bytes.count ? bytes[index] : 0
    }

    /// Whether the byte at `offset` ends a token: a space, a newline or the end of the text.
    private func blank(_ offset: Int = 0) -> Bool {
        let value = byte(offset)
        return value == space || value == newline || value == 0
    }

    /// The 1-based column of `pos`, in characters.
    private var column: Int {
        mutating get { columnOf(pos) }
    }

    /// Where the last column was counted, so that counting moves forward along a line instead of
    /// starting again at its beginning (which would make a long non-ASCII line quadratic).
    private var counted = (offset: 0, column: 1)

    private mutating func columnOf(_ offset: Int) -> Int {
        if ascii { return offset - lineStart + 1 }
        if counted.offset < lineStart || counted.offset > offset { counted = (lineStart, 1) }
        for index in counted.offset..<offset where bytes[index] & 0xc0 != 0x80 { counted.column += 1 }
        counted.offset = offset
        return counted.column
    }

    private mutating func skipSpaces() {
        while pos < bytes.count && bytes[pos] == space { pos += 1 }
    }

    /// From the start of a line: skips blank and comment lines, stops at the first character of the next
    /// content line and sets `indent`.
    private mutating func seekContent() throws(Unsupported) {
        while true {
            let start = pos
            skipSpaces()
            if pos >= bytes.count { indent = -1; return }
            if bytes[pos] == newline || bytes[pos] == hash {
                while pos < bytes.count && bytes[pos] != newline { pos += 1 }
                if pos >= bytes.count { indent = -1; return }
                pos += 1
                line += 1
                lineStart = pos
                continue
            }
            indent = pos - start
            // Document markers and directives.
            if indent == 0 && ((byte() == dash && byte(1) == dash && byte(2) == dash) || (byte() == dot && byte(1) == dot && byte(2) == dot) || byte() == percent) {
                throw Unsupported()
            }
            return
        }
    }

    /// After a value: allows spaces and a comment to the end of the line, then finds the next content line.
    private mutating func endLine() throws(Unsupported) {
        skipSpaces()
        if pos < bytes.count && bytes[pos] == hash {
            // A comment needs a space before it; `"a"#b` is a mistake.
            guard pos > lineStart, bytes[pos - 1] == space else { throw Unsupported() }
            while pos < bytes.count && bytes[pos] != newline { pos += 1 }
        }
        if pos >= bytes.count { indent = -1; return }
        guard bytes[pos] == newline else { throw Unsupported() }
        pos += 1
        line += 1
        lineStart = pos
        try seekContent()
    }

    private mutating func enter() throws(Unsupported) {
        depth += 1
        if depth > ScenarioLoader.maxDepth { throw Unsupported() }
    }

    // MARK: Block structure

    private var atEntry: Bool { byte() == dash && blank(1) }
    private var atValueIndicator: Bool { byte() == colon && blank(1) }

    /// The node that starts at `pos`: a list, a mapping, or a value alone on its line.
    private mutating func blockNode() throws(Unsupported) -> YAMLNode {
        if atEntry { return try blockSequence() }
        return try valueOrMapping()
    }

    /// A value alone on its line, or — when a key's colon follows it — the block mapping it starts.
    private mutating func valueOrMapping() throws(Unsupported) -> YAMLNode {
        let start = column
        let first = try inlineValue(flow: false)
        let end = pos
        skipSpaces()
        if atValueIndicator, case .scalar = first.content {
            pos += 1
            return try blockMapping(column: start, firstKey: first)
        }
        pos = end
        try endLine()
        return first
    }

    /// A block mapping whose keys sit at `column`; `pos` is just past the first key's colon.
    private mutating func blockMapping(column keyColumn: Int, firstKey: YAMLNode) throws(Unsupported) -> YAMLNode {
        try enter()
        defer { depth -= 1 }
        let keyIndent = keyColumn - 1
        var pairs: [YAMLNode.Pair] = []
        var keys = Set<String>()
        var key = firstKey
        while true {
            // A repeated key is a mistake, and libyaml refuses keys over 1,024 characters; Yams words both.
            guard let name = key.string, keys.insert(name).inserted, column - key.column <= 1024 else { throw Unsupported() }
            let valueLine = line, valueColumn = column
            skipSpaces()
            let value: YAMLNode
            if pos >= bytes.count || bytes[pos] == newline || bytes[pos] == hash {
                try endLine()
                if indent > keyIndent {
                    value = try blockNode()
                } else if indent == keyIndent && atEntry {
                    value = try blockSequence()  // a list may sit at its key's indentation
                } else {
                    value = YAMLNode(content: .scalar("", plain: true), line: valueLine, column: valueColumn)
                }
            } else {
                guard !atEntry else { throw Unsupported() }
                value = try inlineValue(flow: false)
                try endLine()
            }
            pairs.append(YAMLNode.Pair(key: key, value: value))
            if indent < keyIndent { break }
            // Deeper lines would continue a value over several lines.
            guard indent == keyIndent, !atEntry else { throw Unsupported() }
            key = try inlineValue(flow: false)
            skipSpaces()
            guard case .scalar = key.content, atValueIndicator else { throw Unsupported() }
            pos += 1
        }
        return YAMLNode(content: .mapping(pairs), line: firstKey.line, column: firstKey.column)
    }

    /// A block list whose dashes sit at the current column; `pos` is on the first dash.
    private mutating func blockSequence() throws(Unsupported) -> YAMLNode {
        try enter()
        defer { depth -= 1 }
        let dashIndent = pos - lineStart
        let node = (line: line, column: column)
        var items: [YAMLNode] = []
        repeat {
            pos += 1
            skipSpaces()
            // An empty entry, an entry on the next lines and a list in a list are left to Yams.
            guard pos < bytes.count, bytes[pos] != newline, bytes[pos] != hash, !atEntry else { throw Unsupported() }
            items.append(try valueOrMapping())
            if indent > dashIndent { throw Unsupported() }
        } while indent == dashIndent && atEntry
        return YAMLNode(content: .sequence(items), line: node.line, column: node.column)
    }

    // MARK: Values on one line

    private mutating func inlineValue(flow: Bool) throws(Unsupported) -> YAMLNode {
        switch byte() {
        case openBracket: return try flowSequence()
        case openBrace: return try flowMapping()
        case doubleQuote: return try doubleQuoted()
        case singleQuote: return try singleQuoted()
        default: return try plain(flow: flow)
        }
    }

    private mutating func flowSequence() throws(Unsupported) -> YAMLNode {
        var items: [YAMLNode] = []
        let start = try flowEntries(closing: closeBracket) { reader throws(Unsupported) in
            items.append(try reader.inlineValue(flow: true))
        }
        return YAMLNode(content: .sequence(items), line: start.line, column: start.column)
    }

    private mutating func flowMapping() throws(Unsupported) -> YAMLNode {
        var pairs: [YAMLNode.Pair] = []
        var keys = Set<String>()
        let start = try flowEntries(closing: closeBrace) { reader throws(Unsupported) in
            let key = try reader.inlineValue(flow: true)
            guard let name = key.string, keys.insert(name).inserted else { throw Unsupported() }
            reader.skipSpaces()
            // libyaml refuses keys of over 1,024 characters (counted to the colon).
            guard reader.byte() == colon, reader.byte(1) == space, reader.column - key.column < 1024 else { throw Unsupported() }
            reader.pos += 2
            reader.skipSpaces()
            if reader.byte() == comma || reader.byte() == closeBrace { throw Unsupported() }  // empty value
            pairs.append(YAMLNode.Pair(key: key, value: try reader.inlineValue(flow: true)))
        }
        return YAMLNode(content: .mapping(pairs), line: start.line, column: start.column)
    }

    /// A one-line flow collection from its opening bracket at `pos` to `closing`, `entry` reading each
    /// entry between the commas; returns where it starts. A trailing comma, a pair in a list and the end
    /// of the line are left to Yams.
    private mutating func flowEntries(closing: UInt8, _ entry: (inout QuickYAMLReader) throws(Unsupported) -> Void) throws(Unsupported) -> (line: Int, column: Int) {
        try enter()
        defer { depth -= 1 }
        let start = (line: line, column: column)
        pos += 1
        skipSpaces()
        if byte() == closing {
            pos += 1
            return start
        }
        while true {
            try entry(&self)
            skipSpaces()
            if byte() == closing {
                pos += 1
                return start
            }
            guard byte() == comma else { throw Unsupported() }
            pos += 1
            skipSpaces()
            if byte() == closing { throw Unsupported() }
        }
    }

    /// A plain scalar: in a block it runs to `: `, ` #` or the end of the line; in a flow it also stops
    /// at `,[]{}` and gives up on `:` and `#`.
    private mutating func plain(flow: Bool) throws(Unsupported) -> YAMLNode {
        let first = byte()
        // Indicators that start something else: anchors, aliases, tags, block scalars, reserved ones.
        switch first {
        case ampersand, asterisk, bang, pipe, greater, percent, at, backtick, hash, comma, openBracket, closeBracket, openBrace, closeBrace, 0, newline, space:
            throw Unsupported()
        case dash:
            if blank(1) || (flow && isFlowIndicator(byte(1))) { throw Unsupported() }
        case question, colon:
            if flow || blank(1) { throw Unsupported() }
        default:
            break
        }
        let start = pos
        var end = pos
        while pos < bytes.count {
            let value = bytes[pos]
            if value == newline { break }
            if value == space {
                if byte(1) == hash { break }
                pos += 1
                continue
            }
            if value == colon {
                if blank(1) { break }
                if flow { throw Unsupported() }
            }
            if flow {
                if isFlowIndicator(value) { break }
                if value == hash { throw Unsupported() }
            }
            pos += 1
            end = pos
        }
        pos = end
        return YAMLNode(content: .scalar(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self), plain: true),
                        line: line, column: columnOf(start))
    }

    private func isFlowIndicator(_ value: UInt8) -> Bool {
        value == comma || value == openBracket || value == closeBracket || value == openBrace || value == closeBrace
    }

    private mutating func singleQuoted() throws(Unsupported) -> YAMLNode {
        let start = column
        pos += 1
        var text: [UInt8] = []
        while true {
            guard pos < bytes.count, bytes[pos] != newline else { throw Unsupported() }
            if bytes[pos] == singleQuote {
                if byte(1) == singleQuote {
                    text.append(singleQuote)
                    pos += 2
                    continue
                }
                pos += 1
                break
            }
            text.append(bytes[pos])
            pos += 1
        }
        return YAMLNode(content: .scalar(String(decoding: text, as: UTF8.self), plain: false), line: line, column: start)
    }

    private mutating func doubleQuoted() throws(Unsupported) -> YAMLNode {
        let start = column
        pos += 1
        var text: [UInt8] = []
        while true {
            guard pos < bytes.count, bytes[pos] != newline else { throw Unsupported() }
            let value = bytes[pos]
            if value == doubleQuote {
                pos += 1
                break
            }
            guard value == backslash else {
                text.append(value)
                pos += 1
                continue
            }
            let escape = byte(1)
            pos += 2
            switch escape {
            case backslash, doubleQuote, space: text.append(escape)
            case UInt8(ascii: "n"): text.append(newline)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "r"): text.append(0x0d)
            case UInt8(ascii: "0"): text.append(0)
            case UInt8(ascii: "x"): try appendCodePoint(digits: 2, to: &text)
            case UInt8(ascii: "u"): try appendCodePoint(digits: 4, to: &text)
            default: throw Unsupported()
            }
        }
        return YAMLNode(content: .scalar(String(decoding: text, as: UTF8.self), plain: false), line: line, column: start)
    }

    private mutating func appendCodePoint(digits: Int, to text: inout [UInt8]) throws(Unsupported) {
        guard pos + digits <= bytes.count else { throw Unsupported() }
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let digit = hexValue(bytes[pos]) else { throw Unsupported() }
            value = value << 4 | digit
            pos += 1
        }
        guard let scalar = Unicode.Scalar(value) else { throw Unsupported() }
        text.append(contentsOf: String(Character(scalar)).utf8)
    }

    private func hexValue(_ value: UInt8) -> UInt32? {
        switch value {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(value - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(value - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(value - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

private let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " "), hash = UInt8(ascii: "#"), dash = UInt8(ascii: "-")
private let dot = UInt8(ascii: "."), percent = UInt8(ascii: "%"), colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")
private let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]"), openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
private let doubleQuote = UInt8(ascii: "\""), singleQuote = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
private let ampersand = UInt8(ascii: "&"), asterisk = UInt8(ascii: "*"), bang = UInt8(ascii: "!"), pipe = UInt8(ascii: "|")
private let greater = UInt8(ascii: ">"), at = UInt8(ascii: "@"), backtick = UInt8(ascii: "`"), question = UInt8(ascii: "?")
