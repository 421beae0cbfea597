import DXL
import Foundation
import TIE

/// The outcome of a run: the steps played and the expectations checked against the journal.
public struct VerificationReport: Sendable {
    public var steps: [ScenarioPlayer.StepResult]
    public var expectations: [ExpectationResult]
    public var journal: [JournalEntry]
    /// A step that could not be played, if any.
    public var playError: String?
    /// How many of the oldest journal entries the journal's bounds had dropped when it was checked.
    public var journalDropped = 0

    /// Whether every step played and every expectation holds.
    public var passed: Bool { playError == nil && expectations.allSatisfy(\.passed) }

    /// Waits until every expectation of `scenarios` can be decided — until the end of its window, or
    /// `settle` after now for windows that stay open until the end of the run — then checks them.
    public static func check(_ scenarios: [Scenario], steps: [ScenarioPlayer.StepResult], playError: String? = nil,
                             journal: Journal, settle: Duration = .seconds(2)) async -> VerificationReport {
        let expectations = scenarios.flatMap(\.expectations)
        if !expectations.isEmpty {
            let settled = ContinuousClock.now + settle
            var deadline = settled
            if let decided = ExpectationChecker.decisionTime(expectations, entries: journal.all) {
                deadline = max(journal.started + decided + .milliseconds(100), ContinuousClock.now)
            }
            if deadline > ContinuousClock.now { try? await Task.sleep(until: deadline, clock: .continuous) }
        }
        let entries = journal.all
        var report = VerificationReport(steps: steps, expectations: expectations.map { ExpectationChecker.evaluate($0, on: entries) },
                                        journal: entries, playError: playError)
        report.journalDropped = journal.droppedCount
        return report
    }

    public init(steps: [ScenarioPlayer.StepResult], expectations: [ExpectationResult], journal: [JournalEntry], playError: String? = nil) {
        self.steps = steps
        self.expectations = expectations
        self.journal = journal
        self.playError = playError
    }

    /// One line per failed expectation (with its closest entries), or a summary when all hold.
    public var summary: String {
        var lines: [String] = []
        if let playError { lines.append("step failed: \(playError)") }
        for result in expectations where !result.passed { lines.append(result.message) }
        let held = expectations.filter(\.passed).count
        if journalDropped > 0 {
            lines.append("the journal dropped its \(journalDropped) oldest entries (past its bounds of 128 MiB and 100,000 entries): expectations were judged on the rest")
        }
        lines.append("\(steps.count) steps played, \(held) of \(expectations.count) expectations hold")
        return lines.joined(separator: "\n")
    }
}

/// Records what happens on a fabric tiesim does not run: every request (through a `#` subscription)
/// and every TIE event, from its own connection.
public final class FabricObserver: Sendable {
    public let journal: Journal
    private let client: DXLClient

    public init(config: DXLClientConfig, journal: Journal = Journal()) throws {
        var config = config
        config.clientId = "tiesim-observer-" + UUID().uuidString.lowercased()
        self.client = try DXLClient(config: config)
        self.journal = journal
    }

    public func start() async throws {
        try await client.connect()
        let journal = self.journal
        try await client.addRequestCallback(topic: "#") { journal.record($0, kind: .request) }
        for topic in ["/mcafee/event/tie/#", "/mcafee/event/external/#"] {
            try await client.addEventCallback(topic: topic) { journal.record($0, kind: .event) }
        }
    }

    public func stop() async {
        await client.disconnect()
    }
}
