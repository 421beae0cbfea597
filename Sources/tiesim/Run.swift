import ArgumentParser
import DXL
import Foundation
import TIESimulator

/// `tiesim run`: play scenarios against an existing fabric.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Play scenarios against an existing DXL fabric (tiesim's or a real one) and exit when done.",
        discussion: """
        Connects with the given dxlclient.config and plays each scenario's timeline. Steps cannot wait for \
        subscribers on a fabric tiesim does not run (there is no broker log to read): start the subscribers \
        first or give steps after: delays. Steps with `broker: K` publish through the K-th broker the config \
        lists (a fabric of several brokers). Progress goes to stderr.
        """
    )

    @Argument(help: "Scenario files to play.")
    var scenarios: [String]

    @Option(name: .long, help: "The dxlclient.config to connect with.")
    var config: String

    @OptionGroup var reports: ReportOptions

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        global.bootstrap()
        let loaded = try loadScenarios(scenarios)
        let clientConfig = try readClientConfig(config)
        // Steps that name broker K publish through the config's K-th broker (then broker 1's steps go through
        // the first broker only, not whichever of the list answers first).
        let highest = loaded.flatMap(\.timeline).map(\.broker).max() ?? 1
        var firstBroker = clientConfig
        if highest > 1 { firstBroker.brokers = Array(clientConfig.brokers.prefix(1)) }
        let client = try DXLClient(config: firstBroker)
        try await starting { try await client.connect() }
        if highest > clientConfig.brokers.count {
            printError("tiesim: a step plays on broker \(highest), but \(config) lists \(clientConfig.brokers.count) broker\(clientConfig.brokers.count == 1 ? "" : "s") — use the dxlclient.config that lists every broker of the fabric")
            throw Exit.invalidInput
        }
        var otherBrokers: [DXLClient] = []
        for index in clientConfig.brokers.indices.dropFirst().prefix(max(0, highest - 1)) {
            var single = clientConfig
            single.brokers = [clientConfig.brokers[index]]
            let other = try DXLClient(config: single)
            try await starting { try await other.connect() }
            otherBrokers.append(other)
        }
        let observer = try FabricObserver(config: clientConfig)
        try await starting { try await observer.start() }
        let player = ScenarioPlayer(client: client, otherBrokers: otherBrokers, store: ReputationStore(scenarios: loaded), watcher: nil,
                                    journal: observer.journal, progress: progressPrinter)
        var steps: [ScenarioPlayer.StepResult] = []
        var playError: String?
        do {
            steps = try await player.play(loaded)
            printLine("tiesim timeline done: \(steps.reduce(0) { $0 + $1.sent }) events in \(steps.count) steps")
        } catch {
            printError("tiesim: \(error)")
            playError = String(describing: error)
        }
        let passed = await reports.finish(loaded, steps: steps, playError: playError, journal: observer.journal)
        await observer.stop()
        for other in otherBrokers { await other.disconnect() }
        await client.disconnect()
        if !passed { throw Exit.failure }
    }
}
