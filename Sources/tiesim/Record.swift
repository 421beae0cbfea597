import ArgumentParser
import DXL
import Foundation
import TIESimulator

/// `tiesim record`: capture a fabric as a scenario.
struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record TIE events and request/response pairs on a fabric (tiesim's or a real one) as a scenario file.",
        discussion: """
        Knowledge comes from the responses seen (reputations, first references), the timeline from the events \
        with their original spacing. Stops after --duration seconds, after --count events, or on SIGINT/SIGTERM, \
        then writes --out (checked by the scenario parser first). Play it back with tiesim run or tiesim up.
        """
    )

    @Option(name: .long, help: "The dxlclient.config to connect with.")
    var config: String

    @Option(name: .long, help: "Event topics to record (default: TIE's detection, first-instance and reputation-change topics).")
    var topic: [String] = []

    @Option(name: .long, help: "Where to write the scenario.")
    var out: String

    @Option(name: .long, help: "Stop after this many seconds.")
    var duration: Double?

    @Option(name: .long, help: "Stop after this many events.")
    var count: Int?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let duration, !duration.isFinite || duration <= 0 || duration > 30 * 86_400 {
            throw ValidationError("--duration must be a number of seconds above 0 and at most 2592000 (30 days), not \(duration)")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1, not \(count)") }
    }

    func run() async throws {
        global.bootstrap()
        let clientConfig = try readClientConfig(config)
        let recorder = try Recorder(config: clientConfig, topics: topic)
        try await starting { try await recorder.start() }
        printLine("tiesim recording: writing \(out) when done")
        let signals = SignalWaiter()
        let limit = count
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await signals.wait() }
            if let duration {
                group.addTask { try? await Task.sleep(for: .milliseconds(Int64(duration * 1000))) }
            }
            if let limit {
                group.addTask {
                    while recorder.eventCount < limit && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
                }
            }
            await group.next()
            group.cancelAll()
        }
        await recorder.stop()
        let name = ((out as NSString).lastPathComponent as NSString).deletingPathExtension
        let text = recorder.scenarioText(name: name)
        do {
            _ = try ScenarioLoader.parse(text: text, file: out)
        } catch {
            printError("tiesim: the recording is not a valid scenario (please report this):\n\(error)")
            throw Exit.failure
        }
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        printLine("tiesim recorded \(recorder.eventCount) events to \(out)")
    }
}
