import DXL
import Foundation
import Logging
import Synchronization
import TIE

// Faults the fake TIE injects on purpose: which request, and what goes wrong.
extension FakeTieService {
    /// Injects `faults` from now on (replacing earlier ones), with randomness seeded by `seed`.
    public func setFaults(_ faults: [Fault], seed: String) {
        self.faults.withLock { $0 = (faults.map { ($0, 0) }, SeededRandom(seed: seed)) }
    }

    /// Adds `faults` to the ones injected.
    public func addFaults(_ faults: [Fault]) {
        self.faults.withLock { $0.rules += faults.map { ($0, 0) } }
    }

    /// The fault that applies to `request`, if any, and whether it fires this time (drops are random).
    func fault(for request: DXLMessage) -> Fault? {
        // Every request passes here: without faults, or without faults that name hashes, the request's
        // JSON is not parsed an extra time.
        let (anyRules, anyHashRules) = faults.withLock { state in (!state.rules.isEmpty, state.rules.contains { $0.fault.hashes != nil }) }
        guard anyRules else { return nil }
        let hashes: [String] = !anyHashRules ? [] : (try? JSONValue.parse(request.payload))?["hashes"]?.arrayValue?.compactMap { entry in
            entry["value"]?.stringValue.flatMap { try? HashEncoding.hex(base64: $0) }
        } ?? []
        return faults.withLock { state -> Fault? in
            for index in state.rules.indices {
                let rule = state.rules[index]
                guard rule.fault.matches(topic: request.destinationTopic, hashes: hashes) else { continue }
                if let times = rule.fault.times, rule.fired >= times { continue }
                if case .drop(let share) = rule.fault.effect, state.random.nextUnit() >= share { return nil }
                state.rules[index].fired += 1
                return rule.fault
            }
            return nil
        }
    }

    func delay(_ fault: Fault) -> Duration {
        guard case .delay(let low, let high) = fault.effect else { return .zero }
        if low == high { return low }
        let unit = faults.withLock { $0.random.nextUnit() }
        return low + (high - low) * unit
    }

    /// The topics this service answers.
    public static let servedTopics = TieTopic.requestTopics
}
