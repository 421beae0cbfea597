/// One mistake in a scenario file, located at a line and column, with what to do about it.
///
/// Printed as `file:line:column: what is wrong — what to do`, the form editors and CI logs link to.
public struct ScenarioIssue: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// What is wrong.
    public var message: String
    /// What to do about it.
    public var hint: String

    public init(file: String, line: Int, column: Int, message: String, hint: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    public var description: String {
        hint.isEmpty ? "\(file):\(line):\(column): \(message)" : "\(file):\(line):\(column): \(message) — \(hint)"
    }
}

/// Every mistake found in one or more scenario files. Nothing is played from a file that has any.
public struct ScenarioError: Error, Sendable, CustomStringConvertible {
    public var issues: [ScenarioIssue]
    public init(issues: [ScenarioIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Suggestions for misspelt names.
enum DidYouMean {
    /// The candidate closest to `word` within a small edit distance, if any.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            let limit = candidate.count <= 3 ? 1 : max(2, candidate.count / 3)
            if distance <= limit, distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        return best?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// "did you mean 'x'?" or a list of what is allowed.
    static func hint(for word: String, among candidates: [String], what: String) -> String {
        if let suggestion = suggestion(for: word, among: candidates) {
            return "did you mean '\(suggestion)'?"
        }
        return "\(what) is one of: \(candidates.joined(separator: ", "))"
    }
}
