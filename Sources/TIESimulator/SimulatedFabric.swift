import DXL
import DXLFabric
import DXLBroker
import Foundation
import Logging
import Synchronization
import TIE

/// A whole fake TIE fabric on this machine: certificates, a real mosquitto broker, the fabric services,
/// the fake TIE service and a scenario player, all in one state directory.
///
/// `start` brings everything up and writes `dxlclient.config` for users' clients; `stop` takes it all
/// down. Threading: any task; `play` one scenario list at a time.
///
/// Its public surface is what a user drives: the options, the configs, the journal, the control
/// commands, `play`, `reset`, `stop`. The parts inside — brokers, store, services, tiesim's own
/// clients — are `package`: for the `tiesim` command, the benchmarks and the tests.
public final class SimulatedFabric: Sendable {
    public let options: Options
    package let certificates: FabricCertificates
    /// The brokers (one, or several joined by bridges).
    package let network: BrokerNetwork
    /// Broker 1, where tiesim's services connect.
    package var broker: LocalBroker { network.broker(1) }
    package let store: ReputationStore
    package let tie: FakeTieService
    package let services: FabricServices
    package let watcher: SubscriptionWatcher
    /// The client tiesim's broker notes (the journal) and control commands go through.
    package let serviceClient: DXLClient
    /// The fake TIE's own connection (its requests do not queue behind the journal's traffic).
    let tieClient: DXLClient
    /// The clients the player sends events through, one per broker (broker 1's first).
    package let playerClients: [DXLClient]
    /// The client the player sends broker 1's events through.
    package var playerClient: DXLClient { playerClients[0] }
    /// Every connection tiesim itself holds: services, fake TIE, players.
    package var internalClients: [DXLClient] { [serviceClient, tieClient] + playerClients }
    /// The path of the `dxlclient.config` users' clients connect with.
    public let clientConfigPath: String
    /// Broker 1's GUID.
    public let brokerGuid: String
    /// Everything seen and done on the fabric since start (or the last reset).
    public let journal: Journal
    /// The control commands (also served over DXL under `/tiesim/control/`).
    public let control: FabricControl
    /// The HTTP control API, when started.
    public let http: HTTPControlServer?
    /// The client provisioning service, when started.
    let management: ManagementService?
    /// The client provisioning service's port, when it runs.
    public var managementPort: Int? { management?.port }
    /// The control commands' DXL service (kept alive here: its handlers hold it weakly).
    let controlService: ControlService
    private let lock: StateLock
    private let logger: Logger

    private init(options: Options, certificates: FabricCertificates, network: BrokerNetwork, store: ReputationStore, tie: FakeTieService,
                 services: FabricServices, watcher: SubscriptionWatcher, serviceClient: DXLClient, tieClient: DXLClient, playerClients: [DXLClient],
                 clientConfigPath: String, brokerGuid: String, journal: Journal, control: FabricControl, controlService: ControlService,
                 http: HTTPControlServer?, management: ManagementService?, lock: StateLock, logger: Logger) {
        self.management = management
        self.journal = journal
        self.controlService = controlService
        self.control = control
        self.http = http
        self.options = options
        self.certificates = certificates
        self.network = network
        self.store = store
        self.tie = tie
        self.services = services
        self.watcher = watcher
        self.serviceClient = serviceClient
        self.tieClient = tieClient
        self.playerClients = playerClients
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
        // A `ready` marker (written by `tiesim up`) left by a run that was killed is stale now.
        try? FileManager.default.removeItem(atPath: directory + "/ready")
        // What is started is stopped again, in reverse order, when a later part fails to start.
        let started = Mutex<[@Sendable () async -> Void]>([])
        do {
            let certificates = try FabricCertificates.prepare(in: directory + "/certs", clients: options.clients + [Self.ownIdentity])
            var brokerOptions = LocalBroker.Options()
            brokerOptions.port = options.port
            brokerOptions.host = options.host
            brokerOptions.maxQueuedMessages = options.maxQueuedMessages
            brokerOptions.maxPacketSize = options.maxMessageSize
            brokerOptions.authorization = Self.authorization(options)
            brokerOptions.webSockets = options.webSockets
            brokerOptions.webSocketPort = options.webSocketPort
            let layout = options.scenarios.last(where: { $0.fabric != nil })?.fabric
            let network = BrokerNetwork(directory: directory, count: options.brokers ?? layout?.brokers ?? 1,
                                        topology: options.topology ?? layout?.topology ?? .hub, certificates: certificates,
                                        options: brokerOptions, logger: logger)
            for log in network.logPaths { try? FileManager.default.removeItem(atPath: log) }
            try await network.start()
            started.withLock { $0.append { await network.shutDown() } }
            let brokerGuid = network.guids[0]
            /// One of tiesim's own clients, on broker `number`. It fills in the source ids its broker stamps
            /// (the same bytes), so the broker's stamp does not make its events longer on the way.
            func internalClient(_ role: String, broker number: Int) throws -> DXLClient {
                var config = network.clientConfig(client: Self.ownIdentity, brokers: [number])
                config.stampedBrokerId = network.guids[number - 1]
                config.maxMessageSize = options.maxMessageSize
                config.connectRetries = 3
                config.clientId = "tiesim-\(role)-" + UUID().uuidString.lowercased()
                return try DXLClient(config: config, logger: logger)
            }
            let serviceClient = try internalClient("services", broker: 1)
            let tieClient = try internalClient("tie", broker: 1)
            let playerClients = try (1...network.brokers.count).map { try internalClient("player-\($0)", broker: $0) }
            let internalClients = [serviceClient, tieClient] + playerClients
            started.withLock { $0.append { for client in internalClients { await client.disconnect() } } }
            for client in internalClients { try await client.connect() }
            let store = ReputationStore(scenarios: options.scenarios)
            let unknown = options.scenarios.last?.settings.unknownHashes ?? .realServer
            let journal = Journal()
            let tie = FakeTieService(client: tieClient, store: store, unknownHashes: unknown, logger: logger, journal: journal,
                                     recordsRequests: true, rateLimitPerRequester: options.requestRateLimitPerClient)
            let services = FabricServices(client: serviceClient, journal: journal, journalsEvents: options.journalEvents, logger: logger)
            tie.setFaults(options.scenarios.flatMap(\.faults), seed: options.scenarios.last?.settings.seed ?? "tiesim")
            started.withLock { $0.append { services.stop() } }
            try await services.start()
            started.withLock { $0.append { tie.stop() } }
            if options.runsTie {
                try await tie.start()
                // Ready means every broker routes to it: the registration reaches the others over the bridges.
                if network.brokers.count > 1 { try await Self.waitUntilListed(tie.serviceGuid, brokers: network.guids, client: serviceClient) }
            }
            let watcher = SubscriptionWatcher(client: playerClients[0], ignoring: [Self.ownIdentity])
            let configPath = directory + "/dxlclient.config"
            let advertise = { @Sendable (config: DXLClientConfig) -> DXLClientConfig in
                guard options.advertisedHost != nil || options.advertisedAddress != nil else { return config }
                var config = config
                let advertised = { (broker: DXLBroker) -> DXLBroker in
                    let host = options.advertisedHost ?? broker.host
                    return DXLBroker(uniqueId: broker.uniqueId, host: host, port: broker.port, ipAddress: options.advertisedAddress ?? host)
                }
                config.brokers = config.brokers.map(advertised)
                config.webSocketBrokers = config.webSocketBrokers.map(advertised)
                return config
            }
            let primary = options.clients.first ?? "client"
            let primaryConfig = advertise(network.clientConfig(client: primary))
            try primaryConfig.write(to: configPath)
            if options.webSockets {
                var webSockets = primaryConfig
                webSockets.useWebSockets = true
                try webSockets.write(to: directory + "/dxlclient-websockets.config")
            }
            for client in options.clients.dropFirst() {
                try advertise(network.clientConfig(client: client)).write(to: directory + "/dxlclient-\(client).config")
            }
            if network.brokers.count > 1 {
                for number in 1...network.brokers.count {
                    try advertise(network.clientConfig(client: primary, brokers: [number])).write(to: directory + "/dxlclient-broker-\(number).config")
                }
            }
            var management: ManagementService?
            if let settings = options.management {
                let listed = { @Sendable () -> (brokers: [DXLBroker], webSocketBrokers: [DXLBroker]) in
                    let config = advertise(network.clientConfig(client: primary))
                    return (config.brokers, config.webSocketBrokers)
                }
                do {
                    management = try ManagementService(host: settings.host, port: settings.port, certificates: certificates, user: settings.user,
                                                       password: settings.password, reserved: [Self.ownIdentity, BrokerLayout.bridgeIdentity],
                                                       brokers: listed, logger: logger)
                } catch {
                    throw StartError.failed("the management service did not start on \(settings.host):\(settings.port): \(error)")
                }
                let service = management
                started.withLock { $0.append { service?.stop() } }
            }
            let control = FabricControl(store: store, tie: tie, services: services, journal: journal, initial: options.scenarios) {
                Self.player(clients: playerClients, network: network, store: store, watcher: watcher, journal: journal, logger: logger)
            }
            let controlService = ControlService(client: serviceClient, control: control, logger: logger)
            try await controlService.start()
            var http: HTTPControlServer?
            if let port = options.controlHTTPPort {
                http = try await HTTPControlServer.start(control: control, host: options.controlHTTPHost, port: port == 0 ? nil : port,
                                                         headTimeout: options.controlHTTPHeadTimeout, logger: logger) {
                    let up = network.brokers.map(\.isRunning)
                    return (up.allSatisfy { $0 }, .object(["brokers": .array(zip(network.brokers, up).enumerated().map { index, entry in
                        .object(["broker": .int(Int64(index + 1)), "port": .int(Int64(entry.0.port)), "running": .bool(entry.1)])
                    })]))
                }
            }
            let fabric = SimulatedFabric(options: options, certificates: certificates, network: network, store: store, tie: tie, services: services,
                                         watcher: watcher, serviceClient: serviceClient, tieClient: tieClient, playerClients: playerClients, clientConfigPath: configPath,
                                         brokerGuid: brokerGuid, journal: journal, control: control, controlService: controlService, http: http,
                                         management: management, lock: lock, logger: logger)
            fabric.watchBrokers()
            return fabric
        } catch {
            for stop in started.withLock({ $0 }).reversed() { await stop() }
            lock.release()
            throw error
        }
    }

    /// The brokers' topic authorisation: the options' rules, the scenarios' `authorization:`, and with `authorizedSetters`, rules that
    /// only those clients and tiesim may send set-reputation requests.
    /// The certificate of tiesim's own clients (the fake TIE, the services, the player): the brokers'
    /// internal identity, which every authorisation rule lets through.
    static let ownIdentity = "tiesim"

    /// Every rule the fabric enforces: the options', the scenarios', the control plane's and the setters'.
    /// tiesim's own clients (the fake TIE, the player) pass every rule, as the broker's own services do.
    static func authorization(_ options: Options) -> TopicAuthorization {
        var authorization = options.authorization
        for scenario in options.scenarios {
            authorization.send += scenario.authorization?.send ?? []
            authorization.receive += scenario.authorization?.receive ?? []
        }
        // The control plane belongs to whoever runs the fabric.
        let controllers = options.controllers ?? Array(options.clients.prefix(1))
        authorization.send.append(.init(topic: ControlService.prefix + "#", clients: Set(controllers)))
        if let setters = options.authorizedSetters {
            // Every way a client changes reputations: the set requests and the external reports.
            for topic in [TieTopic.setFileReputation, TieTopic.setCertificateReputation, TieTopic.externalFileReport] {
                authorization.send.append(.init(topic: topic, clients: Set(setters)))
            }
        }
        for index in authorization.send.indices { authorization.send[index].clients.insert(ownIdentity) }
        for index in authorization.receive.indices { authorization.receive[index].clients.insert(ownIdentity) }
        return authorization
    }

    /// A player for this fabric (waits for subscribers by asking the brokers' plugin).
    public func player(progress: (@Sendable (ScenarioPlayer.Progress) -> Void)? = nil) -> ScenarioPlayer {
        Self.player(clients: playerClients, network: network, store: store, watcher: watcher, journal: journal, logger: logger, progress: progress)
    }

    /// A player publishing through `clients` (one per broker of `network`), stopping brokers for outage steps.
    private static func player(clients: [DXLClient], network: BrokerNetwork, store: ReputationStore, watcher: SubscriptionWatcher, journal: Journal,
                               logger: Logger, progress: (@Sendable (ScenarioPlayer.Progress) -> Void)? = nil) -> ScenarioPlayer {
        ScenarioPlayer(client: clients[0], otherBrokers: Array(clients.dropFirst()), store: store, watcher: watcher, journal: journal,
                       brokerOutage: { number, duration in try await network.outage(broker: number, for: duration) },
                       logger: logger, progress: progress)
    }

    /// Plays the timelines of `scenarios` (default: the ones the fabric was started with).
    @discardableResult
    public func play(_ scenarios: [Scenario]? = nil) async throws -> [ScenarioPlayer.StepResult] {
        try await player().play(scenarios ?? options.scenarios)
    }

    /// Waits until the registry of each broker in `brokers` (GUIDs) lists service `guid`, asking each
    /// broker's own registry (a broker service request naming that broker); fails after `timeout`.
    static func waitUntilListed(_ guid: String, brokers: [String], client: DXLClient, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        for broker in brokers {
            while true {
                var query = DXLMessage.request(topic: ServiceRegistryTopic.query, payload: JSONValue.object(["serviceGuid": .string(guid)]).serializedBytes())
                query.brokerIds = [broker]
                let reply = try await client.request(query, timeout: .seconds(5))
                if reply.type == .response, (try? JSONValue.parse(reply.payload))?["services"]?[guid] != nil { break }
                guard ContinuousClock.now < deadline else {
                    throw StartError.failed("broker \(broker) did not list the fake TIE service within \(timeout) (is its bridge up?)")
                }
                try await Task.sleep(for: .milliseconds(20))  // the next announcement is at most 200 ms away
            }
        }
    }

    /// The services registered on the fabric, as broker 1's registry lists them (tiesim's own — the fake
    /// TIE and the control commands — only with `includingTiesim`), in registration order.
    public func registeredServices(includingTiesim: Bool = false) async throws -> [ServiceRecord] {
        let reply = try await serviceClient.request(.request(topic: ServiceRegistryTopic.query, payload: "{}"), timeout: .seconds(10))
        guard reply.type == .response else { throw StartError.failed("the service registry refused a query: \(reply.errorMessage ?? "")") }
        let services = try JSONValue.parse(reply.payload)["services"]?.objectValue ?? [:]
        let ownClients = Set(internalClients.map(\.clientId))
        return services.values.compactMap { entry in
            ServiceRecord(json: entry, clientId: entry["clientGuid"]?.stringValue ?? "", brokerGuid: entry["brokerGuid"]?.stringValue ?? "", now: 0)
        }.filter { includingTiesim || !ownClients.contains($0.clientId) }.sorted { ($0.registrationTime, $0.serviceGuid) < ($1.registrationTime, $1.serviceGuid) }
    }

    /// Returns the fake TIE's knowledge, faults and journal to the state right after `start`.
    public func reset() {
        _ = control.reset()
    }

    /// The configuration a Swift client of this fabric uses (client certificate `client`), listing
    /// `brokers` (1-based; all by default).
    public func clientConfig(client: String = "client", brokers: [Int]? = nil) -> DXLClientConfig {
        network.clientConfig(client: client, brokers: brokers)
    }

    /// Whether `stop` has run.
    private let stopped = Atomic<Bool>(false)
    /// Restarts brokers that died (see `watchBrokers`).
    private let watchdog = Mutex<Task<Void, Never>?>(nil)

    /// Watches the brokers: one that dies while the fabric runs (killed, crashed — not an outage step,
    /// which stops it on purpose) is started again on its port at once, which is logged and journaled;
    /// its clients reconnect as they would to a real broker that came back.
    /// `stop` sets `stopped`, then cancels this task and waits for it before it stops the brokers (a broker
    /// restarted here meanwhile included): the task only has to stop starting brokers once `stopped` is set.
    func watchBrokers() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                guard let self, !self.stopped.load(ordering: .acquiring) else { return }
                for (index, broker) in self.network.brokers.enumerated() where broker.hasDied && !self.stopped.load(ordering: .acquiring) {
                    let status = broker.exitStatus.map { $0 > 128 ? "signal \($0 - 128)" : "exit status \($0)" } ?? "?"
                    self.logger.error("broker \(index + 1) (mosquitto on port \(broker.port)) died (\(status)); starting it again on the same port")
                    var note = DXLMessage.event(topic: "/tiesim/broker/\(index + 1)", payload: [])
                    note.sourceClientId = Self.ownIdentity
                    do {
                        try await broker.restart()
                        if self.stopped.load(ordering: .acquiring) { return }  // stop ends what was just started
                        self.journal.record(note, kind: .fault, note: "broker \(index + 1) died (\(status)) and was started again on port \(broker.port)")
                        try await self.network.waitForBridges()
                        self.logger.notice("broker \(index + 1) is back on port \(broker.port)")
                    } catch {
                        self.logger.error("broker \(index + 1) could not be started again: \(error)")
                        self.journal.record(note, kind: .fault, note: "broker \(index + 1) died (\(status)) and could not be started again: \(error)")
                    }
                }
            }
        }
        watchdog.withLock { $0 = task }
    }

    /// Stops the services, disconnects, stops mosquitto and releases the state directory (once: later
    /// calls return at once).
    public func stop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // The watchdog ends before the brokers stop, so that it cannot start one again behind stop's back.
        let watching = watchdog.withLock { $0 }
        watching?.cancel()
        await watching?.value
        await http?.stop()
        management?.stop()
        tie.stop()
        services.stop()
        for client in internalClients { await client.disconnect() }
        await network.shutDown()
        lock.release()
    }
}
