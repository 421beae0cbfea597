import DXL
import Foundation
import Testing
@testable import TIESimulator

/// The quick reader must give exactly Yams' tree — values, styles, lines and columns — for every
/// document it accepts, and leave everything else to Yams.
@Suite("Quick YAML reader")
struct YAMLReaderTests {
    /// Yams' tree for `text`, or nil when Yams finds it empty or wrong.
    static func yamsTree(_ text: String) -> YAMLNode? {
        (try? YAMLNode.readWithYams(text)) ?? nil
    }

    /// Whether the quick reader agrees with Yams on `text`; true when it leaves the text to Yams.
    @discardableResult
    static func agrees(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard let quick = QuickYAMLReader.read(text) else { return true }
        let yams = yamsTree(text)
        #expect(quick == yams, "the quick reader and Yams disagree on:\n\(text)", sourceLocation: sourceLocation)
        return quick == yams
    }

    static var shippedTexts: [(String, String)] {
        let folder = repositoryRoot.appendingPathComponent("scenarios")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().compactMap { name in
            (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)).map { (name, $0) }
        }
    }

    @Test("every shipped scenario is read quickly, into Yams' tree")
    func shippedScenarios() {
        let texts = Self.shippedTexts
        #expect(texts.count >= 6)
        for (name, text) in texts {
            #expect(QuickYAMLReader.read(text) != nil, "\(name) falls back to Yams")
            Self.agrees(text)
        }
    }

    @Test("the forms scenario files use are read quickly, into Yams' tree", arguments: [
        "a: 1\nb: two words  # comment\n",
        "files:\n  A.EXE:\n  B.EXE:\n    md5: 0123\n",
        "timeline:\n- detection: {file: A.EXE, agents: 5}\n  repeat: 3\n- wait: 2s\n",
        "timeline:\n  - detection:\n      file: A.EXE\n    at: 1s\n",
        "x: [1, -2, \"three\", 'it''s', {a: b c}, []]\ny: {}\n",
        "event: {topic: /x/y, payload: {n: 1.5, ok: true, s: \"a\\\"b\\\\c\\u00e9\\n\"}}\n",
        "# header\n\nname:   spaced   \n\n  # indented comment\nlist:\n  - a\n  -   b\n",
        "key: a#b\nurl: http://host:8080/path?x=1&y=2\nquoted: \"a: b # c\"\n",
        "'quoted key': 1\n\"other\": 2\n",
        "root:\n  deeper:\n    deepest: 1\n  back: 2\nlast: 3",
        "- a\n- b: 1\n  c: 2\n- [x]\n",
        "empty:\nnext: 1\n",
        "a:\n  b:\nc:\n",
        "plain scalar\n",
        "long: [" + Array(repeating: "é", count: 5_000).joined(separator: ", ") + "]\n",
        "# a comment — with a dash\nname: café crème\nlist: [é, 'ü', \"ö\", {ß: 1}]\nnested:\n  - ä: 2\n    b: 3\n",
    ])
    func accepted(_ text: String) {
        #expect(QuickYAMLReader.read(text) != nil, "falls back to Yams")
        Self.agrees(text)
    }

    @Test("everything else is left to Yams", arguments: [
        "", "# only a comment\n", "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  text\n", "a: >\n  text\n",
        "a: b\n  continued\n", "a: \"two\n  lines\"\n", "---\na: 1\n", "a: 1\n...\n", "%YAML 1.1\n---\na: 1\n", "a:\t1\n", "a: 1\r\n",
        "a: \u{85}\n", "a: x\u{2028}y\n", "\u{FEFF}a: 1\n", "a: 1\na: 2\n", "{a: 1, a: 2}\n", "a: [1,\n  2]\n", "a: {b: 1,}\n", "a: [x: 1]\n", "? a\n: 1\n", "a: b: c\n",
        "- - a\n", "-\n  a: 1\n", "- \n", "a: \"\\q\"\n", "a: {url: http://x}\n", "a:\n  - x\n  b: 1\n", "a: 1\n  b: 2\n", "a: - b\n",
        "a: 'x'y\n", "a: [b]c\n", "a: \"x\"#c\n", "a: {b}\n", "a: {b: }\n",
        "x: {" + String(repeating: "a", count: 1_100) + ": 1}\n", "{k" + String(repeating: " ", count: 1_030) + ": v}\n",
        String(repeating: "k", count: 1_100) + ": 1\n",
    ])
    func leftToYams(_ text: String) {
        #expect(QuickYAMLReader.read(text) == nil)
    }

    @Test("mutated scenarios: wherever the quick reader accepts, it agrees with Yams")
    func mutations() {
        var random = SplitMix64(seed: 20261127)
        let texts = Self.shippedTexts.map { Array($0.1.utf8) }
        let pieces = [" ", "  ", "\n", "\n  ", "- ", ": ", ":", "#", " #", "'", "\"", "[", "]", "{", "}", ",", "\\", "-", "?", "x", "1", "é", "—"].map { Array($0.utf8) }
        var accepted = 0
        for iteration in 0..<3_000 {
            var bytes = texts[iteration % texts.count]
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes.insert(contentsOf: pieces[Int.random(in: 0..<pieces.count, using: &random)], at: at)
                case 1: bytes.remove(at: at)
                default: bytes.replaceSubrange(at..<min(bytes.count, at + 2), with: pieces[Int.random(in: 0..<pieces.count, using: &random)])
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if QuickYAMLReader.read(text) != nil { accepted += 1 }
            guard Self.agrees(text) else { return }
        }
        // Most single edits leave a valid document; the quick reader must keep reading most of them.
        #expect(accepted > 1_000)
    }
}
