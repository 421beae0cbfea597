import DXLWire
import Foundation
import TIE

/// Something the application under test must (or must not) do, from a scenario's `expect:` section.
public struct Expectation: Sendable {
    /// How a field of the payload is matched.
    public enum Matcher: Sendable, CustomStringConvertible {
        case equals(JSONValue)
        case contains(String)
        case regex(String)
        case compare(String, Double)
        /// Equals one of the file's hashes (hex).
        case hashOf(file: String, hashes: [String])

        public var description: String {
            switch self {
            case .equals(let value): return "= \(value.serialized(style: .python))"
            case .contains(let text): return "contains '\(text)'"
            case .regex(let pattern): return "matches /\(pattern)/"
            case .compare(let op, let value): return "\(op) \(JSONValue.formatNumber(value))"
            case .hashOf(let file, _): return "is a hash of \(file)"
            }
        }
    }

    /// How many matching entries there must be.
    public enum Count: Sendable, Equatable, CustomStringConvertible {
        case exactly(Int), atLeast(Int), atMost(Int)

        func holds(_ count: Int) -> Bool {
            switch self {
            case .exactly(let n): return count == n
            case .atLeast(let n): return count >= n
            case .atMost(let n): return count <= n
            }
        }

        public var description: String {
            switch self {
            case .exactly(let n): return "exactly \(n)"
            case .atLeast(let n): return "at least \(n)"
            case .atMost(let n): return "at most \(n)"
            }
        }
    }

    public var name: String
    public var source: String
    public var line: Int
    public var column: Int
    /// What an expectation looks for: requests clients sent, or events on the fabric.
    public enum Kind: String, Sendable {
        case request, event
        /// The journal's kind of entry it is matched against.
        var journalKind: JournalEntry.Kind { self == .request ? .request : .event }
    }

    /// `.request` or `.event`.
    public var kind: Kind
    /// The topic (a trailing `#` matches below it).
    public var topic: String
    /// JSON path (dot-separated) → matcher; all must hold.
    public var conditions: [(path: String, matcher: Matcher)]
    public var count: Count
    /// The window's length from its start (nil: until the end of the run).
    public var within: Duration?
    /// The step whose start opens the window (nil: the start of the timeline).
    public var afterStep: String?

    /// The location, as `file:line:column`.
    public var location: String { "\(source):\(line):\(column)" }

    /// What it asks, in words.
    public var description: String {
        var text = "\(count) \(kind.rawValue)\(count == .exactly(1) || count == .atLeast(1) || count == .atMost(1) ? "" : "s") on \(topic)"
        if !conditions.isEmpty { text += " where " + conditions.map { "\($0.path) \($0.matcher)" }.joined(separator: " and ") }
        if let within { text += " within \(within)" }
        if let afterStep { text += " after step '\(afterStep)'" }
        return text
    }

    /// Whether `entry` is one this expectation counts.
    public func matches(_ entry: JournalEntry) -> Bool {
        guard entry.kind == kind.journalKind, topicMatches(entry.topic) else { return false }
        let payload = entry.payload  // decoded from the journal's bytes: once, not per condition
        return conditions.allSatisfy { Self.holds($0.matcher, payload.value(at: $0.path)) }
    }

    func topicMatches(_ topic: String) -> Bool {
        DXLTopic.matches(filter: self.topic, topic: topic)
    }

    static func holds(_ matcher: Matcher, _ value: JSONValue?) -> Bool {
        guard let value else { return false }
        switch matcher {
        case .equals(let expected):
            if expected == value { return true }
            if let a = expected.doubleValue, let b = value.doubleValue { return a == b }
            if let text = expected.stringValue, let number = value.intValue, let level = TrustLevel(name: text) { return Int64(level.rawValue) == number }
            return false
        case .contains(let text):
            if let string = value.stringValue { return string.contains(text) }
            if case .array(let elements) = value { return elements.contains { $0.stringValue == text } }
            return false
        case .regex(let pattern):
            guard let string = value.stringValue ?? value.intValue.map(String.init), let regex = try? NSRegularExpression(pattern: pattern) else { return false }
            return regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil
        case .compare(let op, let bound):
            guard let number = value.doubleValue else { return false }
            switch op {
            case ">": return number > bound
            case ">=": return number >= bound
            case "<": return number < bound
            case "<=": return number <= bound
            case "!=": return number != bound
            default: return false
            }
        case .hashOf(_, let hashes):
            if let string = value.stringValue { return hashes.contains(string.lowercased()) }
            if case .object(let members) = value { return members.values.contains { $0.stringValue.map { hashes.contains($0.lowercased()) } ?? false } }
            return false
        }
    }
}

extension JSONValue {
    /// The value at a dot-separated path (`file.reputation.score`, `hashes.md5`, `agents.0.agentGuid`).
    public func value(at path: String) -> JSONValue? {
        var current: JSONValue? = self
        for part in path.split(separator: ".") {
            guard let value = current else { return nil }
            if let index = Int(part), case .array = value {
                current = value[index]
            } else {
                current = value[String(part)]
            }
        }
        return current
    }

    static func formatNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// The outcome of one expectation.
public struct ExpectationResult: Sendable {
    public var expectation: Expectation
    public var matched: [JournalEntry]
    public var passed: Bool
    /// The entries that came closest (same kind and topic, or same kind) when it failed.
    public var closest: [JournalEntry]

    /// The failure message: the expectation, its source line, and what came instead.
    public var message: String {
        if passed { return "\(expectation.location): expectation '\(expectation.name)' holds (\(matched.count) matching)" }
        var text = "\(expectation.location): expectation '\(expectation.name)' failed: expected \(expectation.description); saw \(matched.count) matching"
        if closest.isEmpty {
            text += "\n  nothing came on \(expectation.topic) or of that kind"
        } else {
            text += "\n  closest journal entries:"
            for entry in closest { text += "\n    " + entry.summary }
        }
        return text
    }
}

/// Checks expectations against a journal.
public enum ExpectationChecker {
    /// The window of `expectation` given the journal: from the step's start (or the journal's start).
    static func window(of expectation: Expectation, in entries: [JournalEntry]) -> (start: Duration, end: Duration?)? {
        var start = Duration.zero
        if let step = expectation.afterStep {
            guard let entry = entries.first(where: { $0.kind == .step && $0.note == step }) else { return nil }
            start = entry.offset
        }
        return (start, expectation.within.map { start + $0 })
    }

    /// Evaluates `expectation` on `entries`.
    public static func evaluate(_ expectation: Expectation, on entries: [JournalEntry]) -> ExpectationResult {
        guard let window = window(of: expectation, in: entries) else {
            return ExpectationResult(expectation: expectation, matched: [], passed: false, closest: [])
        }
        let inWindow = entries.filter { entry in entry.offset >= window.start && (window.end.map { entry.offset <= $0 } ?? true) }
        let matched = inWindow.filter(expectation.matches)
        let passed = expectation.count.holds(matched.count)
        var closest: [JournalEntry] = []
        if !passed {
            if matched.isEmpty {
                closest = entries.filter { $0.kind == expectation.kind.journalKind && expectation.topicMatches($0.topic) }
                if closest.isEmpty { closest = entries.filter { $0.kind == expectation.kind.journalKind } }
            } else {
                closest = matched
            }
            closest = Array(closest.suffix(3))
        }
        return ExpectationResult(expectation: expectation, matched: matched, passed: passed, closest: closest)
    }

    /// When all of `expectations` can be decided: the latest window end (relative to the journal start),
    /// or nil when some window is open-ended or its step has not started.
    public static func decisionTime(_ expectations: [Expectation], entries: [JournalEntry]) -> Duration? {
        var latest = Duration.zero
        for expectation in expectations {
            guard let window = window(of: expectation, in: entries), let end = window.end else { return nil }
            latest = max(latest, end)
        }
        return latest
    }
}
