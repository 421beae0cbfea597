import DXL
import DXLFabric
import Foundation
import Synchronization
import TIE
import TIESimulator

/// A fake TIE fabric started for one test: its own mosquitto on a free port, the fabric services, the
/// fake TIE serving the scenarios' knowledge, and a player for their timelines.
///
/// Made by `withTIEFabric`, which always tears it down. Threading: any task.
public final class TIEFabric: Sendable {
    /// The running simulator (broker, store, services, player): tiesim's own tests reach into it; a
    /// user's test has the verbs below.
    package let simulated: SimulatedFabric
    /// The scenarios it serves and plays.
    public let scenarios: [Scenario]
    private let clients = Mutex<[DXLClient]>([])
    /// Timelines started with `startPlaying`, stopped at teardown.
    private let playing = Mutex<[Task<[ScenarioPlayer.StepResult], any Error>]>([])

    init(simulated: SimulatedFabric, scenarios: [Scenario]) {
        self.simulated = simulated
        self.scenarios = scenarios
    }

    /// A configuration for a client of this fabric (what `dxlclient.config` holds).
    public var clientConfig: DXLClientConfig { simulated.clientConfig() }
    /// The `dxlclient.config` file, for clients in other processes (Python included).
    public var clientConfigPath: String { simulated.clientConfigPath }
    /// What the fake TIE knows now.
    public var store: ReputationStore { simulated.store }

    /// A connected DXL client of this fabric, disconnected when the fabric is torn down. In a fabric of
    /// several brokers (`fabric:` in the scenario), `broker` picks the one it connects to (1-based; nil:
    /// the first that answers, failing over to the others).
    public func connectedClient(broker: Int? = nil) async throws -> DXLClient {
        let client = try DXLClient(config: simulated.clientConfig(brokers: broker.map { [$0] }))
        try await client.connect()
        clients.withLock { $0.append(client) }
        return client
    }

    /// A TIE client on a new connected DXL client (of broker `broker`, in a fabric of several).
    public func tieClient(broker: Int? = nil) async throws -> TieClient {
        TieClient(try await connectedClient(broker: broker))
    }

    /// The brokers of the fabric (one, or several joined by bridges), for outages in tests.
    public var brokers: [LocalBroker] { simulated.network.brokers }

    /// Plays every scenario's timeline (steps wait for subscribers as the scenario says) and returns
    /// when it is done.
    @discardableResult
    public func play() async throws -> [ScenarioPlayer.StepResult] {
        try await simulated.play(scenarios)
    }

    /// Plays the timelines in the background; await the task's value to know it finished. A timeline
    /// still playing when the fabric is torn down is cancelled then.
    @discardableResult
    public func startPlaying() -> Task<[ScenarioPlayer.StepResult], any Error> {
        let task = Task { try await self.play() }
        playing.withLock { $0.append(task) }
        return task
    }

    /// Returns the fake TIE's knowledge and the registry to their state at start.
    public func reset() {
        simulated.reset()
    }

    /// What happened on the fabric so far: the steps played, the requests the fake TIE answered, the
    /// events and error replies, oldest first (bounded: the oldest go first past 100,000 entries).
    public var journal: [JournalEntry] { simulated.journal.all }

    /// Checks the scenarios' `expect:` sections against the journal, waiting until each expectation
    /// can be decided (its window ended, or `settle` passed for windows open until the end), with the
    /// steps `played` returned (the result of `play()`, for the report).
    public func verify(played: [ScenarioPlayer.StepResult] = [], settle: Duration = .seconds(2)) async -> VerificationReport {
        await VerificationReport.check(scenarios, steps: played, journal: simulated.journal, settle: settle)
    }

    /// The dictionary the Python callback would receive for event `event` of step `step` of scenario
    /// `scenario` (a detection time left to default is "now", so compare that field separately).
    public func expectedDictionary(step: Int, event: Int = 0, scenario: Int = 0) -> JSONValue? {
        let scenario = scenarios[scenario]
        let timelineStep = scenario.timeline[step]
        // Asking changes nothing: the step's change is made only when the step is played.
        guard let payload = simulated.player().payload(for: timelineStep, index: event, scenario: scenario, applying: false) else { return nil }
        switch timelineStep.action {
        case .detection: return try? TieEventTransform.detection(payload)
        case .firstInstance: return try? TieEventTransform.firstInstance(payload)
        case .fileReputationChange, .certificateReputationChange: return try? TieEventTransform.reputationChange(payload)
        case .event: return payload
        case .brokerOutage: return nil
        }
    }

    func tearDown() async {
        for task in playing.withLock({ tasks in defer { tasks.removeAll() }; return tasks }) {
            task.cancel()
            _ = await task.result
        }
        for client in clients.withLock({ clients in defer { clients.removeAll() }; return clients }) {
            await client.disconnect()
        }
        await simulated.stop()
    }
}

/// Why a fabric helper gave up.
public enum TIEFabricError: Error, CustomStringConvertible {
    case scenarioNotFound(String, searched: [String])

    public var description: String {
        switch self {
        case .scenarioNotFound(let name, let searched):
            return "scenario '\(name)' not found (looked in \(searched.joined(separator: ", ")))"
        }
    }
}

/// Finds a scenario by path, or by name in `scenarios/` of the working directory or a folder above it.
func resolveScenario(_ name: String) throws -> String {
    var searched: [String] = []
    let manager = FileManager.default
    if name.hasPrefix("/") {
        if manager.fileExists(atPath: name) { return name }
        throw TIEFabricError.scenarioNotFound(name, searched: [name])
    }
    var folder = URL(fileURLWithPath: manager.currentDirectoryPath)
    for _ in 0..<6 {
        for candidate in [folder.appendingPathComponent(name), folder.appendingPathComponent("scenarios").appendingPathComponent(name)] {
            searched.append(candidate.path)
            if manager.fileExists(atPath: candidate.path) { return candidate.path }
        }
        folder.deleteLastPathComponent()
    }
    throw TIEFabricError.scenarioNotFound(name, searched: searched)
}

/// Starts a fake TIE fabric with `scenario` (a path, or a name found in `scenarios/`), plus
/// `scenarios` and inline `yaml`, runs `body`, and tears everything down afterwards — also when
/// `body` throws. Each call gets its own broker on a free port, so tests may run in parallel.
/// With `tie: false` the fabric has the broker's services but no fake TIE, for suites that register
/// their own TIE service.
public func withTIEFabric<T>(
    scenario: String? = nil,
    scenarios: [String] = [],
    yaml: String? = nil,
    tie: Bool = true,
    _ body: (TIEFabric) async throws -> T
) async throws -> T {
    var loaded: [Scenario] = []
    for name in (scenario.map { [$0] } ?? []) + scenarios {
        loaded.append(try ScenarioLoader.load(path: try resolveScenario(name)))
    }
    if let yaml { loaded.append(try ScenarioLoader.parse(text: yaml, file: "inline.yaml")) }
    return try await withConfiguredFabric(scenarios: loaded, configure: { $0.runsTie = tie }, body)
}

/// What `withTIEFabric` does once the scenarios are loaded, with the simulator's options open to this
/// package's own tests (which need clients of their own and settings no user does): a fabric in a
/// folder of its own with the process's shared certificates, torn down whatever `body` does.
package func withConfiguredFabric<T>(
    scenarios: [Scenario],
    clients: [String] = ["client"],
    configure: (inout SimulatedFabric.Options) -> Void = { _ in },
    _ body: (TIEFabric) async throws -> T
) async throws -> T {
    let directory = NSTemporaryDirectory() + "tiesim-testing-\(getpid())/fabric-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // Certificates are made once per test process (RSA key generation is the slow part of a start).
    _ = try FabricCertificates.processShared(clients: clients + ["tiesim"]).copy(to: directory + "/certs")
    var options = SimulatedFabric.Options(stateDirectory: directory)
    options.scenarios = scenarios
    options.clients = clients
    configure(&options)
    let fabric = TIEFabric(simulated: try await SimulatedFabric.start(options), scenarios: scenarios)
    do {
        let result = try await body(fabric)
        await fabric.tearDown()
        try? FileManager.default.removeItem(atPath: directory)
        return result
    } catch {
        await fabric.tearDown()
        try? FileManager.default.removeItem(atPath: directory)
        throw error
    }
}
