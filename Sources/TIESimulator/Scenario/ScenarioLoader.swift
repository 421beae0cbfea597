import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams


/// Reads scenario files: YAML into a `YAMLNode` tree (quickly for plain scenario YAML, through Yams for
/// the rest and for every YAML mistake), then every rule checked with the line and column of the
/// offending node. All mistakes are collected and reported together.
///
/// Limits that keep hostile files from exhausting time or memory: `maxFileBytes` on the file,
/// `maxNodes` on the nodes walked (YAML aliases can multiply a small file into a huge tree), and
/// `maxDepth` on nesting.
public enum ScenarioLoader {
    /// Largest scenario file read (64 MiB).
    public static let maxFileBytes = 64 << 20
    /// Most YAML nodes walked in one file, aliases counted each time they are used.
    public static let maxNodes = 2_000_000
    /// Deepest nesting accepted.
    public static let maxDepth = 64

    /// Reads and validates the scenario at `path`.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let attributes else {
            throw ScenarioError(issues: [ScenarioIssue(file: path, line: 1, column: 1, message: "no such scenario file", hint: "check the path (scenarios live in scenarios/*.yaml)")])
        }
        if let size = attributes[.size] as? Int, size > maxFileBytes {
            throw ScenarioError(issues: [ScenarioIssue(file: path, line: 1, column: 1, message: "file is \(size) bytes, more than the \(maxFileBytes)-byte limit for scenarios", hint: "split it, or generate the events with repeat:/agents: instead of listing them")])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError(issues: [ScenarioIssue(file: path, line: 1, column: 1, message: "cannot read the file", hint: "check its permissions")])
        }
        return try parse(data: data, file: path)
    }

    /// Validates scenario bytes as if read from `file`.
    public static func parse(data: Data, file: String) throws(ScenarioError) -> Scenario {
        // Scanned through a buffer: Data's own indexing costs a fifth of a 10 MB load.
        let (nul, text): (Int?, String?) = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            if let nul = bytes.firstIndex(of: 0) { return (nul, nil) }
            return (nil, String(validating: bytes, as: UTF8.self))
        }
        if let nul {
            let (line, column) = position(of: nul, in: data)
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: line, column: column, message: "binary data (a NUL byte) in a scenario file", hint: "scenario files are UTF-8 YAML text")])
        }
        guard let text else {
            var iterator = data.makeIterator()
            var decoder = UTF8()
            var offset = 0
            loop: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar): offset += UTF8.width(scalar)
                case .emptyInput, .error: break loop
                }
            }
            let (line, column) = position(of: offset, in: data)
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: line, column: column, message: "the file is not UTF-8 text", hint: "save it as UTF-8")])
        }
        return try parse(text: text, file: file)
    }

    static func position(of offset: Int, in data: Data) -> (Int, Int) {
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == 0x0a { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    /// Validates scenario text as if read from `file`; steps and expectations may also name the files
    /// and certificates `base` defines (for fragments sent to a running fabric).
    public static func parse(text: String, file: String, base: Scenario? = nil) throws(ScenarioError) -> Scenario {
        let root: YAMLNode?
        do {
            root = try YAMLNode.read(text)
        } catch let limit as YAMLTreeLimit {
            throw ScenarioError(issues: [limitIssue(limit.kind, file: file, line: limit.line, column: limit.column)])
        } catch let error as YamlError {
            throw ScenarioError(issues: [yamlIssue(error, file: file)])
        } catch {
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: 1, column: 1, message: "not valid YAML: \(error)", hint: "check the indentation and quoting")])
        }
        guard let root else {
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: 1, column: 1, message: "the file is empty", hint: "add files: and timeline: (see scenarios/README.md)")])
        }
        var parser = ScenarioParser(file: file)
        parser.base = base
        let scenario = parser.scenario(root)
        if !parser.issues.isEmpty { throw ScenarioError(issues: parser.issues) }
        guard let scenario else { throw ScenarioError(issues: [ScenarioIssue(file: file, line: 1, column: 1, message: "not a scenario", hint: "see scenarios/README.md")]) }
        return scenario
    }

    /// A tree too big (aliases are counted each time they are used) or too deep.
    static func limitIssue(_ kind: YAMLTreeLimit.Kind, file: String, line: Int, column: Int) -> ScenarioIssue {
        switch kind {
        case .nodes:
            return ScenarioIssue(file: file, line: line, column: column, message: "the document expands to more than \(maxNodes) YAML nodes (aliases are counted each time they are used)", hint: "remove the aliases that multiply each other, or use repeat:/agents: to generate events")
        case .depth:
            return ScenarioIssue(file: file, line: line, column: column, message: "nesting deeper than \(maxDepth) levels", hint: "flatten the structure")
        }
    }

    static func yamlIssue(_ error: YamlError, file: String) -> ScenarioIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
            return ScenarioIssue(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(detail)", hint: "check the indentation and quoting here")
        case .reader(let problem, _, let offset, _):
            return ScenarioIssue(file: file, line: 1, column: Int(offset) + 1, message: "unreadable YAML: \(problem)", hint: "save the file as UTF-8 text")
        default:
            return ScenarioIssue(file: file, line: 1, column: 1, message: "not valid YAML: \(error)", hint: "check the indentation and quoting")
        }
    }
}
