import ArgumentParser
import Foundation
import TIESimulator

/// Where `up --exit-when-done` and `run` write their reports.
struct ReportOptions: ParsableArguments {
    @Option(name: .long, help: "Write a JUnit XML report (a test case per step and per expectation).")
    var junit: String?

    @Option(name: .long, help: "Write the journal as JSON Lines (every request, event and step, hashes in hex).")
    var journal: String?

    @Option(name: .long, help: "Write a self-contained HTML report of the run.")
    var report: String?

    @Option(name: .long, help: "Seconds to keep watching after the timeline for expectations without a 'within:' window.")
    var settle: Double = 2

    func validate() throws {
        guard settle.isFinite, (0...30 * 86_400).contains(settle) else {
            throw ValidationError("--settle must be a number of seconds from 0 to 2592000 (30 days), not \(settle)")
        }
    }

    /// Checks the expectations, writes the reports, prints failures; returns whether the run passed (a report
    /// that cannot be written fails the run: CI would otherwise pass without its evidence).
    func finish(_ scenarios: [Scenario], steps: [ScenarioPlayer.StepResult], playError: String?, journal: Journal) async -> Bool {
        let result = await VerificationReport.check(scenarios, steps: steps, playError: playError, journal: journal,
                                                    settle: .milliseconds(Int64(max(0, settle) * 1000)))
        var written = true
        do {
            try Reports.write(result, junit: junit, journal: self.journal, html: report)
        } catch {
            printError("tiesim: could not write a report: \(error.localizedDescription) — check that the path is writable")
            written = false
        }
        for expectation in result.expectations where !expectation.passed { printError(expectation.message) }
        printLine("tiesim \(result.passed ? "passed" : "FAILED"): \(result.summary.split(separator: "\n").last.map(String.init) ?? "")")
        return result.passed && written
    }
}
