import ArgumentParser
import TIESimulator

/// `tiesim validate`: check scenario files.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check scenario files and print every mistake as file:line:column: what — what to do.",
        discussion: "Exits 0 when every file is valid, 2 otherwise."
    )

    @Argument(help: "Scenario files to check.")
    var scenarios: [String]

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        global.bootstrap()
        let loaded = try loadScenarios(scenarios)
        for scenario in loaded {
            let events = scenario.timeline.reduce(0) { $0 + $1.count }
            printLine("\(scenario.source): ok (\(scenario.files.count) files, \(scenario.certificates.count) certificates, \(scenario.timeline.count) steps, \(events) events)")
        }
    }
}
