import DXL
import Foundation
import Logging
import TIE

/// A whole fake TIE fabric on this machine: certificates, a real mosquitto broker, the fabric services,
/// the fake TIE service and a scenario player, all in one state directory.
///
/// `start` brings everything up and writes `dxlclient.config` for users' clients; `stop` takes it all
/// down. Threading: any task; `play` one scenario list at a time.
public final class SimulatedFabric: Sendable {
    /// How the fabric is set up.
    public struct Options: Sendable {
        /// Where certificates, the broker's files and `dxlclient.config` go (reused across runs).
        public var stateDirectory: String
        /// The broker port; nil picks a free one.
        public var port: Int?
        /// The address the broker listens on.
        public var host: String = "127.0.0.1"
        /// What TIE knows and plays.
        public var scenarios: [Scenario] = []
        /// Client certificates to make; `dxlclient.config` uses the first.
        public var clients: [String] = ["client"]
        /// mosquitto's per-client queue limit (0: none).
        public var maxQueuedMessages: Int = 0
        /// Whether requests nobody serves get the broker's "no service" error (costs a `#` subscription).
        public var answerUnservedRequests: Bool = true
        /// The port of the HTTP control API on 127.0.0.1: nil for none, 0 for a free port.
        public var controlHTTPPort: Int? = nil
        /// Topic authorisation like the DXL broker's: when set, only these client certificates (by name,
        /// from `clients`) may send set-reputation requests; the broker drops other clients' sets.
        public var authorizedSetters: [String]? = nil
        /// Whether TIE events on the fabric are journaled (a subscription that copies each to tiesim).
        public var journalEvents: Bool = true
        /// The largest message the broker accepts (the DXL broker's limit, 1 MiB, by default).
        public var maxMessageSize: Int = 1 << 20
        public init(stateDirectory: String) { self.stateDirectory = stateDirectory }
    }

    /// Why the fabric could not start.
    public enum StartError: Error, CustomStringConvertible {
        case alreadyRunning(stateDirectory: String, pid: String)
        case failed(String)
        public var description: String {
            switch self {
            case .alreadyRunning(let directory, let pid):
                return "another tiesim (pid \(pid)) is using the state directory \(directory) — stop it, or pass a different --state-dir"
            case .failed(let reason):
                return reason
            }
        }
    }

    public let options: Options
    public let certificates: FabricCertificates
    public let broker: LocalBroker
    public let store: ReputationStore
    public let tie: FakeTieService
    public let services: FabricServices
    public let watcher: SubscriptionWatcher
    /// The client tiesim's services answer through.
    public let serviceClient: DXLClient
    /// The client the player sends events through.
    public let playerClient: DXLClient
    /// The path of the `dxlclient.config` users' clients connect with.
    public let clientConfigPath: String
    /// The broker GUID tiesim stamps on what it sends.
    public let brokerGuid: String
    /// Everything seen and done on the fabric since start (or the last reset).
    public let journal: Journal
    /// The control commands (also served over DXL under `/tiesim/control/`).
    public let control: FabricControl
    /// The HTTP control API, when started.
    public let http: HTTPControlServer?
    /// The control commands' DXL service (kept alive here: its handlers hold it weakly).
    let controlService: ControlService
    private let lock: StateLock
    private let logger: Logger

    private init(options: Options, certificates: FabricCertificates, broker: LocalBroker, store: ReputationStore, tie: FakeTieService,
                 services: FabricServices, watcher: SubscriptionWatcher, serviceClient: DXLClient, playerClient: DXLClient,
                 clientConfigPath: String, brokerGuid: String, journal: Journal, control: FabricControl, controlService: ControlService,
                 http: HTTPControlServer?, lock: StateLock, logger: Logger) {
        self.journal = journal
        self.controlService = controlService
        self.control = control
        self.http = http
        self.options = options
        self.certificates = certificates
        self.broker = broker
        self.store = store
        self.tie = tie
        self.services = services
        self.watcher = watcher
        self.serviceClient = serviceClient
        self.playerClient = playerClient
        self.clientConfigPath = clientConfigPath
        self.brokerGuid = brokerGuid
        self.lock = lock
        self.logger = logger
    }

    /// Brings the fabric up: certificates (made or reused), mosquitto, fabric services and fake TIE,
    /// and `dxlclient.config` in the state directory.
    public static func start(_ options: Options, logger: Logger = Logger(label: "tiesim")) async throws -> SimulatedFabric {
        let directory = URL(fileURLWithPath: options.stateDirectory).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lock = try StateLock(directory: directory)
        do {
            let certificates = try FabricCertificates.prepare(in: directory + "/certs", clients: options.clients + ["tiesim"])
            var brokerOptions = LocalBroker.Options()
            brokerOptions.port = options.port
            brokerOptions.host = options.host
            brokerOptions.maxQueuedMessages = options.maxQueuedMessages
            brokerOptions.maxPacketSize = options.maxMessageSize
            if let setters = options.authorizedSetters {
                brokerOptions.accessControl = Self.accessControl(clients: options.clients + ["tiesim"], setters: setters + ["tiesim"])
            }
            let broker = LocalBroker(directory: directory + "/broker", certificates: certificates, options: brokerOptions, logger: logger)
            try? FileManager.default.removeItem(atPath: broker.logPath)
            try await broker.start()
            let brokerGuid = "{" + UUID().uuidString.lowercased() + "}"
            var internalConfig = broker.clientConfig(client: "tiesim")
            internalConfig.stampedBrokerId = brokerGuid
            internalConfig.connectRetries = 3
            internalConfig.clientId = "tiesim-services-" + UUID().uuidString.lowercased()
            let serviceClient = try DXLClient(config: internalConfig, logger: logger)
            internalConfig.clientId = "tiesim-player-" + UUID().uuidString.lowercased()
            let playerClient = try DXLClient(config: internalConfig, logger: logger)
            do {
                try await serviceClient.connect()
                try await playerClient.connect()
            } catch {
                broker.stop()
                throw error
            }
            let store = ReputationStore(scenarios: options.scenarios)
            let unknown = options.scenarios.last?.settings.unknownHashes ?? .realServer
            let journal = Journal()
            let tie = FakeTieService(client: serviceClient, store: store, unknownHashes: unknown, logger: logger, journal: journal,
                                     recordsRequests: !options.answerUnservedRequests)
            let services = FabricServices(client: serviceClient, brokerGuid: brokerGuid, answersUnservedRequests: options.answerUnservedRequests,
                                          journal: journal, journalsEvents: options.journalEvents, logger: logger)
            tie.setFaults(options.scenarios.flatMap(\.faults), seed: options.scenarios.last?.settings.seed ?? "tiesim")
            try await tie.start()
            try await services.start()
            let watcher = SubscriptionWatcher(logPath: broker.logPath, ignoring: [serviceClient.clientId, playerClient.clientId], logger: logger)
            let configPath = directory + "/dxlclient.config"
            try broker.clientConfig(client: options.clients.first ?? "client").write(to: configPath)
            for client in options.clients.dropFirst() {
                try broker.clientConfig(client: client).write(to: directory + "/dxlclient-\(client).config")
            }
            let control = FabricControl(store: store, tie: tie, services: services, journal: journal, initial: options.scenarios) {
                ScenarioPlayer(client: playerClient, store: store, watcher: watcher, journal: journal, brokerOutage: broker.outage, logger: logger)
            }
            services.addSimulatedTopics(ControlService.topics)
            let controlService = ControlService(client: serviceClient, control: control, logger: logger)
            try await controlService.start()
            var http: HTTPControlServer?
            if let port = options.controlHTTPPort {
                http = try await HTTPControlServer.start(control: control, port: port == 0 ? nil : port)
            }
            return SimulatedFabric(options: options, certificates: certificates, broker: broker, store: store, tie: tie, services: services,
                                   watcher: watcher, serviceClient: serviceClient, playerClient: playerClient, clientConfigPath: configPath,
                                   brokerGuid: brokerGuid, journal: journal, control: control, controlService: controlService, http: http, lock: lock, logger: logger)
        } catch {
            lock.release()
            throw error
        }
    }

    /// mosquitto ACL lines: every client may do everything, except that clients not in `setters` may not
    /// publish to the set-reputation topics (mosquitto drops those publications).
    static func accessControl(clients: [String], setters: [String]) -> [String] {
        var lines = ["# Written by tiesim: topic authorisation by client certificate (common name)."]
        for client in Set(clients).sorted() {
            lines += ["", "user \(client)", "topic readwrite #"]
            if !setters.contains(client) {
                lines += ["topic deny \(TieTopic.setFileReputation)", "topic deny \(TieTopic.setCertificateReputation)"]
            }
        }
        return lines
    }

    /// A player for this fabric (waits for subscribers through the broker's log).
    public func player(progress: (@Sendable (ScenarioPlayer.Progress) -> Void)? = nil) -> ScenarioPlayer {
        ScenarioPlayer(client: playerClient, store: store, watcher: watcher, journal: journal,
                       brokerOutage: broker.outage,
                       logger: logger, progress: progress)
    }

    /// Plays the timelines of `scenarios` (default: the ones the fabric was started with).
    @discardableResult
    public func play(_ scenarios: [Scenario]? = nil) async throws -> [ScenarioPlayer.StepResult] {
        try await player().play(scenarios ?? options.scenarios)
    }

    /// Returns the store and registry to the state right after `start`.
    public func reset() {
        _ = control.reset()
    }

    /// The configuration a Swift client of this fabric uses (client certificate `client`).
    public func clientConfig(client: String = "client") -> DXLClientConfig {
        broker.clientConfig(client: client)
    }

    /// Stops the services, disconnects, stops mosquitto and releases the state directory.
    public func stop() async {
        await http?.stop()
        tie.stop()
        services.stop()
        await playerClient.disconnect()
        await serviceClient.disconnect()
        broker.stop()
        lock.release()
    }
}

/// An exclusive lock on a state directory (`tiesim.lock`, holding the owner's pid), so two tiesim
/// processes never share one broker's files. The kernel drops it when the process dies.
final class StateLock: Sendable {
    private let descriptor: Int32
    private let path: String

    init(directory: String) throws {
        path = directory + "/tiesim.lock"
        descriptor = open(path, O_RDWR | O_CREAT, 0o600)
        guard descriptor >= 0 else { throw SimulatedFabric.StartError.failed("cannot create \(path): \(String(cString: strerror(errno)))") }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw SimulatedFabric.StartError.alreadyRunning(stateDirectory: directory, pid: owner.isEmpty ? "?" : owner)
        }
        ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    func release() {
        ftruncate(descriptor, 0)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
