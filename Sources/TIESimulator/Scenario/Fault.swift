import DXLWire
import Foundation

/// A fault the fake TIE injects into its answers (`faults:` in a scenario).
public struct Fault: Sendable {
    /// What happens to a matching request.
    public enum Effect: Sendable, Equatable {
        /// Answer after a fixed delay, or a random one in a range (seeded by the scenario).
        case delay(min: Duration, max: Duration)
        /// Answer with a DXL ErrorResponse.
        case error(code: Int64, message: String)
        /// Answer nothing for this share (0–1) of requests.
        case drop(share: Double)
        /// Answer with a payload that is not JSON.
        case malformed
    }

    public var name: String
    /// The request topic (a trailing `#` matches below it).
    public var topic: String
    /// Only requests naming this file's (or certificate's) hashes.
    public var hashes: [String]?
    public var effect: Effect
    /// Only the first `times` matching requests (nil: all).
    public var times: Int?
    public var line: Int

    func matches(topic requestTopic: String, hashes requestHashes: [String]) -> Bool {
        guard DXLTopic.matches(filter: topic, topic: requestTopic) else { return false }
        guard let hashes else { return true }
        return requestHashes.contains { hashes.contains($0) }
    }

    /// A description for the journal.
    var summary: String {
        switch effect {
        case .delay(let min, let max): return min == max ? "fault '\(name)': answer delayed by \(min)" : "fault '\(name)': answer delayed by \(min)–\(max)"
        case .error(let code, let message): return "fault '\(name)': error \(code) \(message)"
        case .drop: return "fault '\(name)': request dropped, no answer"
        case .malformed: return "fault '\(name)': malformed answer"
        }
    }
}
