import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

/// The walker behind `ScenarioLoader`: one per file, collecting issues as it goes.
struct ScenarioParser {
    let file: String
    var issues: [ScenarioIssue] = []
    var nodesSeen = 0
    var budgetExceeded = false
    let loadTime = Int64(Date().timeIntervalSince1970)
    /// Knowledge defined elsewhere that this document may refer to.
    var base: Scenario?

    init(file: String) { self.file = file }

    // MARK: Issue helpers

    mutating func issue(_ node: YAMLNode?, _ message: String, _ hint: String) {
        issues.append(ScenarioIssue(file: file, line: node?.line ?? 1, column: node?.column ?? 1, message: message, hint: hint))
    }

    /// Counts nodes and refuses trees too big or too deep (alias bombs, runaway nesting).
    mutating func admit(_ node: YAMLNode, depth: Int) -> Bool {
        if budgetExceeded { return false }
        nodesSeen += 1
        if nodesSeen > ScenarioLoader.maxNodes {
            budgetExceeded = true
            issues.append(ScenarioLoader.limitIssue(.nodes, file: file, line: node.line, column: node.column))
            return false
        }
        if depth > ScenarioLoader.maxDepth {
            budgetExceeded = true
            issues.append(ScenarioLoader.limitIssue(.depth, file: file, line: node.line, column: node.column))
            return false
        }
        return true
    }

    /// A mapping's entries with string keys, or nil (and an issue) for anything else.
    mutating func mapping(_ node: YAMLNode, _ what: String, depth: Int) -> [(key: String, keyNode: YAMLNode, value: YAMLNode)]? {
        guard admit(node, depth: depth) else { return nil }
        guard case .mapping(let mapping) = node.content else {
            issue(node, "\(what) must be a mapping of key: value lines, not \(describe(node))", "indent its keys under it")
            return nil
        }
        var entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        var seen = Set<String>()
        for pair in mapping {
            let key = pair.key, value = pair.value
            guard admit(key, depth: depth + 1) else { return nil }
            guard let name = key.string else {
                issue(key, "a key of \(what) must be a plain name", "write it as name:")
                continue
            }
            if !seen.insert(name).inserted {
                issue(key, "'\(name)' appears twice in \(what)", "keep one of them")
                continue
            }
            entries.append((name, key, value))
        }
        return entries
    }

    mutating func sequence(_ node: YAMLNode, _ what: String, depth: Int) -> [YAMLNode]? {
        guard admit(node, depth: depth) else { return nil }
        guard case .sequence(let sequence) = node.content else {
            issue(node, "\(what) must be a list (lines starting with '- '), not \(describe(node))", "write each entry on its own line starting with '- '")
            return nil
        }
        return sequence
    }

    mutating func checkKeys(_ entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)], allowed: [String], in what: String) {
        for entry in entries where !allowed.contains(entry.key) {
            issue(entry.keyNode, "unknown key '\(entry.key)' in \(what)", DidYouMean.hint(for: entry.key, among: allowed, what: "a key here"))
        }
    }

    func describe(_ node: YAMLNode) -> String {
        switch node.content {
        case .scalar(let text, _): return "the value '\(text)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    mutating func string(_ node: YAMLNode, _ what: String) -> String? {
        guard admit(node, depth: 0) else { return nil }
        guard let text = node.string else {
            issue(node, "\(what) must be a single value, not \(describe(node))", "write it on the same line after the colon")
            return nil
        }
        return text
    }

    mutating func int(_ node: YAMLNode, _ what: String, range: ClosedRange<Int64>? = nil) -> Int64? {
        guard let text = string(node, what) else { return nil }
        guard let value = Int64(text.replacingOccurrences(of: "_", with: "")) else {
            issue(node, "\(what) must be a whole number, not '\(text)'", "write digits only, e.g. 5")
            return nil
        }
        if let range, !range.contains(value) {
            issue(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), not \(value)", "use a value in that range")
            return nil
        }
        return value
    }

    /// An epoch time in seconds, or an ISO 8601 date-time.
    mutating func epoch(_ node: YAMLNode, _ what: String) -> Int64? {
        guard let text = string(node, what) else { return nil }
        if let value = Int64(text) { return value }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970) }
        issue(node, "\(what) must be epoch seconds or an ISO 8601 time, not '\(text)'", "e.g. 1481301796 or 2016-12-09T16:43:16Z")
        return nil
    }

    /// The longest duration or interval a scenario may name: 30 days. Longer ones cannot be meant, and
    /// past about 292 years they no longer fit a `Duration` in milliseconds.
    static let longestDuration: Double = 30 * 86_400

    /// A duration: `500ms`, `2s`, `1.5m`, `1h`, or a number of seconds (at most 30 days).
    mutating func duration(_ node: YAMLNode, _ what: String) -> Duration? {
        guard let text = string(node, what) else { return nil }
        guard let seconds = Self.durationSeconds(text) else {
            issue(node, "\(what) '\(text)' is not a duration", "write a number with a unit: 500ms, 2s, 1.5m or 1h")
            return nil
        }
        guard seconds <= Self.longestDuration else {
            issue(node, "\(what) '\(text)' is longer than 30 days", "write at most 720h (a scenario's times are meant for test runs)")
            return nil
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The duration `text` names, in seconds (not range-checked); nil when it is not one.
    static func durationSeconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where trimmed.hasSuffix(unit) {
            let number = trimmed.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
            if let value = Double(number), value >= 0, value.isFinite { return value * scale }
            return nil
        }
        if let value = Double(trimmed), value >= 0, value.isFinite { return value }
        return nil
    }

    /// A rate, `100/s`, `30/m`, or events per second; returns the interval between events (from 1 µs,
    /// a million a second, to 30 days).
    mutating func rateInterval(_ node: YAMLNode) -> Duration? {
        guard let text = string(node, "rate") else { return nil }
        let parts = text.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }
        let perSecond: Double?
        if parts.count == 2, let count = Double(parts[0]) {
            switch parts[1] {
            case "s", "sec", "second": perSecond = count
            case "m", "min", "minute": perSecond = count / 60
            case "h", "hour": perSecond = count / 3600
            default: perSecond = nil
            }
        } else if parts.count == 1 {
            perSecond = Double(parts[0])
        } else {
            perSecond = nil
        }
        guard let perSecond, perSecond > 0, perSecond.isFinite else {
            issue(node, "rate '\(text)' is not a rate", "write events per time unit: 100/s, 30/m")
            return nil
        }
        guard perSecond <= 1_000_000, 1 / perSecond <= Self.longestDuration else {
            issue(node, "rate '\(text)' is out of range", "write from 1,000,000/s down to one event in 30 days (e.g. 100/s, 1/h)")
            return nil
        }
        return .nanoseconds(Int64((1e9 / perSecond).rounded()))
    }

    mutating func trustLevel(_ node: YAMLNode, _ what: String = "trust level") -> Int? {
        guard let text = string(node, what) else { return nil }
        if let number = Int(text) {
            if TrustLevel(rawValue: number) != nil { return number }
            issue(node, "\(number) is not a TIE trust level", "use one of \(TrustLevel.allCases.map { "\($0.rawValue)" }.joined(separator: ", ")) or a name such as KNOWN_MALICIOUS")
            return nil
        }
        if let level = TrustLevel(name: text) { return level.rawValue }
        issue(node, "unknown trust level '\(text)'", DidYouMean.hint(for: text.uppercased(), among: TrustLevel.names, what: "a trust level"))
        return nil
    }

    mutating func provider(_ node: YAMLNode, certificate: Bool) -> Int? {
        guard let text = string(node, "provider") else { return nil }
        if let number = Int(text) {
            let valid = certificate ? CertProvider(rawValue: number) != nil : FileProvider(rawValue: number) != nil
            if valid { return number }
            let ids = certificate ? CertProvider.allCases.map { "\($0.rawValue) (\($0.name))" } : FileProvider.allCases.map { "\($0.rawValue) (\($0.name))" }
            issue(node, "\(number) is not a \(certificate ? "certificate" : "file") reputation provider", "use one of \(ids.joined(separator: ", "))")
            return nil
        }
        if certificate, let provider = CertProvider(name: text) { return provider.rawValue }
        if !certificate, let provider = FileProvider(name: text) { return provider.rawValue }
        let names = certificate ? CertProvider.names : FileProvider.names
        issue(node, "unknown \(certificate ? "certificate" : "file") reputation provider '\(text)'", DidYouMean.hint(for: text.uppercased(), among: names, what: "a provider"))
        return nil
    }

    mutating func hash(_ node: YAMLNode, _ type: HashType) -> String? {
        guard let text = string(node, type.rawValue) else { return nil }
        let hex = text.utf8.contains(where: { (65...70).contains($0) }) ? text.lowercased() : text
        let expected = type.byteCount * 2
        guard hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            issue(node, "\(type.rawValue) '\(text)' is not hexadecimal", "write the digest as \(expected) hex digits (0-9, a-f)")
            return nil
        }
        guard hex.utf8.count == expected else {
            issue(node, "\(type.rawValue) has \(hex.utf8.count) hex digits; a \(type.rawValue) has \(expected)", "check that the whole digest was copied")
            return nil
        }
        return hex
    }

    /// A YAML value as JSON (plain scalars typed as YAML resolves them; quoted ones stay strings).
    mutating func json(_ node: YAMLNode, depth: Int) -> JSONValue? {
        guard admit(node, depth: depth) else { return nil }
        switch node.content {
        case .scalar(let text, let plain):
            if !plain { return .string(text) }
            if text == "null" || text == "~" || text.isEmpty { return .null }
            if text == "true" || text == "True" { return .bool(true) }
            if text == "false" || text == "False" { return .bool(false) }
            if let value = Int64(text) { return .int(value) }
            if let value = Double(text), text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(value) }
            return .string(text)
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            for element in sequence {
                guard let value = json(element, depth: depth + 1) else { return nil }
                elements.append(value)
            }
            return .array(elements)
        case .mapping(let mapping):
            var members: JSONObject = [:]
            for pair in mapping {
                let key = pair.key, value = pair.value
                guard let name = key.string else {
                    issue(key, "JSON object keys must be plain names", "write it as name:")
                    return nil
                }
                guard let converted = json(value, depth: depth + 1) else { return nil }
                members[name] = converted
            }
            return .object(members)
        }
    }
}
