import DXL
import DXLBroker
import Foundation
import Logging
import Synchronization

/// Several real mosquitto brokers joined by mosquitto bridges, like a DXL fabric of several brokers:
/// each has its own mutual-TLS listener on loopback, and every message published on one reaches the
/// subscribers on all of them exactly once.
///
/// Broker 1 is where tiesim's own services connect. In a `hub`, brokers 2…N each bridge to broker 1;
/// in a `chain`, broker k bridges to broker k−1. Bridges carry every topic both ways at QoS 0 and are
/// marked as bridges (`try_private`), so mosquitto never sends a message back where it came from.
///
/// Threading: any thread.
public final class BrokerNetwork: Sendable {
    /// How the brokers are joined.
    public enum Topology: String, Sendable, CaseIterable {
        /// Brokers 2…N bridge to broker 1.
        case hub
        /// Broker k bridges to broker k−1.
        case chain
    }

    /// The brokers, broker 1 first (made by `start`: each bridge needs its remote broker's port).
    public var brokers: [LocalBroker] { started.withLock { $0 } }
    public let topology: Topology
    /// How many brokers the network has.
    public let count: Int
    private let directory: String
    private let certificates: FabricCertificates
    private let options: LocalBroker.Options
    private let started = Mutex<[LocalBroker]>([])
    private let logger: Logger
    /// The brokers' GUIDs, broker 1's first (what their plugins stamp on messages).
    public let guids: [String]

    /// Prepares `count` brokers with their files in `directory/broker` (one broker) or
    /// `directory/broker-K`, all with `options`; `options.port` is broker 1's port, the others pick free
    /// ports.
    public init(directory: String, count: Int, topology: Topology = .hub, certificates: FabricCertificates,
                options: LocalBroker.Options = LocalBroker.Options(), logger: Logger = Logger(label: "tiesim.broker")) {
        precondition(count >= 1, "a fabric has at least one broker")
        self.topology = topology
        self.count = count
        self.directory = directory
        self.certificates = certificates
        self.options = options
        self.logger = logger
        guids = (0..<count).map { _ in "{" + UUID().uuidString.lowercased() + "}" }
    }

    /// The folder of broker `index` (0-based).
    private func folder(_ index: Int) -> String {
        (directory as NSString).appendingPathComponent(count == 1 ? "broker" : "broker-\(index + 1)")
    }

    /// The log files the brokers will write (known before `start`).
    public var logPaths: [String] { (0..<count).map { (folder($0) as NSString).appendingPathComponent("mosquitto.log") } }

    /// The index of the broker that broker `index` bridges to (0-based), nil for broker 1.
    static func parent(of index: Int, topology: Topology) -> Int? {
        guard index > 0 else { return nil }
        return topology == .hub ? 0 : index - 1
    }

    /// The MQTT client id of the bridge from broker `from` to broker `to` (1-based).
    public static func bridgeName(from: Int, to: Int) -> String { "\(bridgePrefix)\(from)-to-\(to)" }
    /// What every bridge's client id starts with (to tell bridges from clients in a broker's log).
    public static let bridgePrefix = "tiesim-bridge-"

    /// Broker `number` (1-based).
    public func broker(_ number: Int) -> LocalBroker { brokers[number - 1] }

    /// Starts the brokers (broker 1 first) and returns once every bridge has subscribed on its remote
    /// broker, so that a message published anywhere reaches everyone. Stops what it started on failure.
    public func start(timeout: Duration = .seconds(20)) async throws(BrokerError) {
        started.withLock { $0.removeAll() }
        // Every broker's plugin knows the whole fabric: its brokers and the bridge tree. Each broker picks
        // its port as it starts (retrying a taken one) and announces it to the others over the bridges.
        // Only broker 1 may be asked for a port; the others take free ones.
        func port(_ index: Int) -> Int? { index == 0 ? options.port : nil }
        let layoutBrokers = (0..<count).map { index in
            BrokerLayout.Broker(guid: guids[index], hostname: options.host, port: port(index) ?? 0, parent: Self.parent(of: index, topology: topology))
        }
        do {
            for index in 0..<count {
                var brokerOptions = options
                brokerOptions.port = port(index)
                brokerOptions.webSocketPort = index == 0 ? options.webSocketPort : nil
                brokerOptions.layout = BrokerLayout(brokers: layoutBrokers, index: index, bridgePrefix: Self.bridgePrefix,
                                                    authorization: options.authorization)
                if let parent = Self.parent(of: index, topology: topology) {
                    let remote = brokers[parent]
                    let host = remote.options.host == "0.0.0.0" ? "127.0.0.1" : remote.options.host
                    brokerOptions.bridges = [LocalBroker.Bridge(name: Self.bridgeName(from: index + 1, to: parent + 1), host: host, port: remote.port)]
                }
                let broker = LocalBroker(directory: folder(index), certificates: certificates, options: brokerOptions, logger: logger)
                started.withLock { $0.append(broker) }
                try await broker.start()
            }
            try await waitForBridges(timeout: timeout)
        } catch {
            await shutDown()
            throw error
        }
    }

    /// Waits until the bridges carry messages both ways: asks each broker's DXL plugin (over a connection
    /// with the broker certificate, as the bridges have) which session it is in, then waits until every
    /// broker has heard every other one announce itself in that session over the bridges.
    public func waitForBridges(timeout: Duration = .seconds(20)) async throws(BrokerError) {
        guard count > 1 else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var clients: [DXLClient] = []
        defer {
            let connected = clients
            Task { for client in connected { await client.disconnect() } }
        }
        func ask(_ client: DXLClient, _ body: JSONValue) async throws(BrokerError) -> JSONValue {
            let left = clock.now.duration(to: deadline)
            let request = DXLMessage.request(topic: BrokerCore.Topic.fabric, payload: body.serializedBytes())
            do {
                let reply = try await client.request(request, timeout: max(left, .milliseconds(1)) + .seconds(2))
                guard reply.type == .response else { throw BrokerError.failedToStart(reason: "the broker plugin refused: \(reply.errorMessage ?? "")", log: "") }
                return try JSONValue.parse(reply.payload)
            } catch let error as BrokerError {
                throw error
            } catch {
                throw .failedToStart(reason: "could not ask the broker plugin whether the bridges are up: \(error)", log: "")
            }
        }
        do {
            for broker in brokers {
                var config = broker.clientConfig(client: "broker")
                config.clientId = "tiesim-readiness-" + UUID().uuidString.lowercased()
                let client = try DXLClient(config: config, logger: logger)
                clients.append(client)
                try await client.connect()
            }
        } catch {
            throw .failedToStart(reason: "could not connect to ask whether the bridges are up: \(error)", log: "")
        }
        var sessions: JSONObject = [:]
        for client in clients {
            let answer = try await ask(client, .object([:]))
            if let guid = answer["me"]?["guid"]?.stringValue, let session = answer["me"]?["session"] { sessions[guid] = session }
        }
        for (index, client) in clients.enumerated() {
            let left = clock.now.duration(to: deadline)
            let answer = try await ask(client, .object(["expect": .object(sessions), "waitMs": .int(max(Int64(left / .milliseconds(1)), 0))]))
            guard answer["complete"] == JSONValue.bool(true) else {
                let heard = answer["heard"]?.objectValue?.keys.sorted() ?? []
                throw .failedToStart(reason: "broker \(index + 1) did not hear every other broker over the bridges within \(timeout) (heard \(heard))",
                                     log: brokers[index].logTail())
            }
        }
        logger.debug("\(brokers.count) brokers bridged (\(topology.rawValue))")
    }

    /// Stops every broker.
    public func stop() {
        for broker in brokers.reversed() { broker.stop() }
    }

    /// `stop()`, waiting for the brokers without holding a thread (what tasks call).
    public func shutDown() async {
        for broker in brokers.reversed() { await broker.shutDown() }
    }

    /// Stops broker `number` for `duration`, starts it again on its port and waits for its bridges.
    public func outage(broker number: Int, for duration: Duration) async throws {
        try await broker(number).outage(duration)
        try await waitForBridges()
    }

    /// A client configuration using client certificate `client` that lists brokers `numbers` (1-based; all
    /// of them by default) in that order, as a DXL fabric's `dxlclient.config` lists its brokers.
    public func clientConfig(client: String = "client", brokers numbers: [Int]? = nil) -> DXLClientConfig {
        let all = brokers
        let chosen = numbers ?? Array(1...all.count)
        var config = all[chosen.first.map { $0 - 1 } ?? 0].clientConfig(client: client)
        /// Broker `number`'s entry in the configuration, on `port`.
        func entry(_ number: Int, port: Int) -> DXLBroker {
            let host = all[number - 1].options.host
            return DXLBroker(uniqueId: all.count == 1 ? "local" : "broker-\(number)", host: host, port: port, ipAddress: host)
        }
        config.brokers = chosen.map { entry($0, port: all[$0 - 1].port) }
        config.webSocketBrokers = chosen.compactMap { number in all[number - 1].webSocketPort.map { entry(number, port: $0) } }
        return config
    }
}
