import Foundation
import Logging
import Synchronization

/// A DXL client over mutual TLS: events, requests and responses, and services — the Swift counterpart
/// of the Python `dxlclient.DxlClient`.
///
/// Threading: all methods may be called from any thread or task. Callbacks and request handlers run on
/// the transport's network thread, one at a time, in arrival order; keep them short and hand longer work
/// to a task. The client's tables live behind one `Mutex`, released before any callback runs.
public final class DXLClient: Sendable {
    /// A handle for removing a callback.
    public struct CallbackToken: Hashable, Sendable {
        let id: UInt64
        let topic: String
        let kind: Kind
        enum Kind: Hashable, Sendable { case event, request }
    }

    struct Registration {
        let id: UInt64
        let callback: @Sendable (DXLMessage) -> Void
    }

    /// The callbacks of one kind (events, or requests) by topic, a trailing `#` matching below it.
    struct CallbackTable {
        private(set) var byTopic: [String: [Registration]] = [:]
        private var hasWildcards = false
        /// With wildcard callbacks: topic → the callbacks a message on it reaches (topics repeat, so the
        /// prefix walk is done once per topic; cleared when callbacks change; bounded: a client seeing
        /// endless distinct topics, every reply topic, starts over now and then).
        private var resolved: [String: [Registration]] = [:]

        mutating func add(_ registration: Registration, topic: String) {
            byTopic[topic, default: []].append(registration)
            if topic.hasSuffix("#") { hasWildcards = true }
            resolved.removeAll()
        }

        /// Removes callback `id` of `topic`; whether it was there.
        mutating func remove(_ id: UInt64, topic: String) -> Bool {
            guard let before = byTopic[topic]?.count else { return false }
            byTopic[topic]?.removeAll { $0.id == id }
            if byTopic[topic]?.isEmpty == true { byTopic[topic] = nil }
            resolved.removeAll()
            return (byTopic[topic]?.count ?? 0) < before
        }

        /// The callbacks a message on `topic` reaches.
        mutating func callbacks(for topic: String) -> [Registration] {
            if !hasWildcards { return byTopic[topic] ?? [] }
            if let known = resolved[topic] { return known }
            let found = DXLTopic.candidates(for: topic).flatMap { byTopic[$0] ?? [] }
            if resolved.count >= 4_096 { resolved.removeAll() }
            resolved[topic] = found
            return found
        }
    }

    struct PendingRequest {
        let topic: String
        let continuation: CheckedContinuation<DXLMessage, any Error>?
        let callback: (@Sendable (Result<DXLMessage, DXLError>) -> Void)?
        var deadline: ContinuousClock.Instant
        var timeout: Duration
    }

    struct State {
        var nextId: UInt64 = 1
        var events = CallbackTable()
        var requests = CallbackTable()

        /// The callbacks of `kind`.
        subscript(callbacks kind: CallbackToken.Kind) -> CallbackTable {
            get { kind == .event ? events : requests }
            _modify {
                if kind == .event { yield &events } else { yield &requests }
            }
        }
        var hasWildcardSubscriptions = false
        var subscriptionCounts: [String: Int] = [:]
        var pending: [String: PendingRequest] = [:]
        var services: [String: ServiceRegistrationInfo] = [:]
        var serviceTokens: [String: [CallbackToken]] = [:]
        var renewalTasks: [String: Task<Void, Never>] = [:]
        var sentIds = RecentIds(capacity: 8192)
        var connected = false
        var connectedBroker: DXLBroker?
        /// Called with every message received, of any type, before it is dispatched.
        var observers: [Registration] = []
        /// Whether the task that expires timed-out requests is running.
        var reaperRunning = false
        /// The connect in progress: a second `connect()` meanwhile waits for it instead of racing it.
        var connecting: Task<Void, any Error>?
    }

    /// The configuration this client was made with.
    public let config: DXLClientConfig
    /// The MQTT client id, also the suffix of the reply-to topic.
    public let clientId: String
    /// Where responses to this client's requests arrive: `/mcafee/client/<clientId>`.
    public let replyToTopic: String
    let transport: MQTTTransport
    let state: Mutex<State>
    let logger: Logger
    /// This client's events, stamped as `publish` stamps them.
    let eventEncoder: DXLEventEncoder

    /// Creates a client; call `connect()` before using it.
    public init(config: DXLClientConfig, logger: Logger = Logger(label: "tiesim.dxl")) throws(DXLError) {
        self.config = config
        let clientId = config.clientId ?? DXLMessage.makeMessageId()
        self.clientId = clientId
        self.replyToTopic = "/mcafee/client/" + clientId
        self.logger = logger
        self.eventEncoder = DXLEventEncoder(template: Self.stamped(.event(topic: "", payload: []), clientId: clientId, config: config))
        let state = Mutex(State())
        self.state = state
        let box = WeakClientBox()
        do {
            // The transport's own reconnects start at 0.25 s and double up to this; `reconnectDelay` paces
            // `connect()`'s rounds over the configured brokers.
            let maximumDelay = UInt32(max(1, config.reconnectDelayMax.components.seconds))
            transport = try MQTTTransport(
                clientId: clientId,
                tls: config.tlsFiles,
                protocolVersion: config.protocolVersion,
                maximumReconnectDelay: maximumDelay,
                logger: logger,
                handlers: .init(
                    message: { topic, payload in box.client?.receive(topic: topic, payload: payload) },
                    reconnected: { box.client?.restoreAfterReconnect() },
                    connectionLost: { _ in box.client?.markDisconnected() }
                )
            )
        } catch {
            throw .transport(error)
        }
        box.client = self
    }

    deinit {
        transport.disconnect()
    }

    // MARK: Connection

    /// Connects to the first broker that accepts us, trying the configured brokers in order (host, then
    /// IP address) for `config.connectRetries` rounds with doubling delays; then subscribes to the reply
    /// topic and to every topic that has callbacks.
    public func connect() async throws(DXLError) {
        let (task, joined) = state.withLock { state -> (Task<Void, any Error>, Bool) in
            if let running = state.connecting { return (running, true) }
            let task = Task { () async throws in try await self.connectToFabric() }
            state.connecting = task
            return (task, false)
        }
        defer { if !joined { state.withLock { $0.connecting = nil } } }
        do {
            // The caller's cancellation reaches the attempt it started (not one it joined).
            try await withTaskCancellationHandler { try await task.value } onCancel: { if !joined { task.cancel() } }
        } catch let error as DXLError {
            throw error
        } catch {
            throw .brokerUnreachable(brokers: config.brokers, attempts: 0, lastError: String(describing: error))
        }
    }

    func connectToFabric() async throws(DXLError) {
        var lastError = "no broker configured"
        var delay = config.reconnectDelay
        let rounds = max(1, config.connectRetries)
        for round in 1...rounds {
            if Task.isCancelled { throw .brokerUnreachable(brokers: config.brokers, attempts: round - 1, lastError: "connect was cancelled") }
            for broker in config.brokers {
                for host in [broker.host, broker.ipAddress].compactMap({ $0 }) where !host.isEmpty {
                    do {
                        try await transport.connect(host: host, port: broker.port, keepAlive: config.keepAliveSeconds, timeout: config.connectTimeout)
                        // After a loss, reconnect to this broker first, then to the others of the fabric.
                        transport.setFailoverTargets(config.brokers.flatMap { other in
                            Set([other.host, other.ipAddress ?? other.host].filter { !$0.isEmpty }).sorted().map { (host: $0, port: other.port) }
                        })
                        state.withLock {
                            $0.connected = true
                            $0.connectedBroker = broker
                        }
                        logger.info("connected to \(host):\(broker.port) as \(clientId)")
                        try await subscribeAfterConnect()
                        return
                    } catch let error as DXLError {
                        throw error
                    } catch {
                        lastError = String(describing: error)
                        logger.debug("connect to \(host):\(broker.port) failed: \(lastError)")
                    }
                    if broker.ipAddress == broker.host { break }
                }
            }
            if round < rounds {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, config.reconnectDelayMax)
            }
        }
        throw .brokerUnreachable(brokers: config.brokers, attempts: rounds, lastError: lastError)
    }

    func subscribeAfterConnect() async throws(DXLError) {
        let topics = state.withLock { state -> [String] in
            state.subscriptionCounts[replyToTopic, default: 0] += 1
            return Array(state.subscriptionCounts.keys)
        }
        for topic in topics {
            do { try await transport.subscribe(topic) } catch { throw .transport(error) }
        }
    }

    /// Whether the client is connected now.
    public var isConnected: Bool { transport.isConnected }

    /// The broker this client connected to.
    public var connectedBroker: DXLBroker? { state.withLock { $0.connectedBroker } }

    /// Unregisters this client's services (briefly), then disconnects.
    public func disconnect() async {
        let services = state.withLock { Array($0.services.values) }
        for service in services {
            try? await unregisterService(service, timeout: .seconds(2))
        }
        markDisconnected()
        transport.disconnect()
    }

    func restoreAfterReconnect() {
        let target = transport.currentTarget
        let broker = config.brokers.first { $0.port == target.port && ($0.host == target.host || $0.ipAddress == target.host) }
        let (topics, services) = state.withLock { state in
            state.connected = true
            if let broker { state.connectedBroker = broker }
            return (Array(state.subscriptionCounts.keys), Array(state.services.values))
        }
        for topic in topics { transport.subscribeNoWait(topic) }
        for service in services {
            Task { try? await self.sendRegistration(service) }
        }
    }

    func markDisconnected() {
        // Responses to requests in flight cannot arrive any more (the broker keeps nothing for a QoS 0
        // client): fail them now instead of letting them wait for their timeout.
        let pending = state.withLock { state in
            state.connected = false
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for request in pending {
            request.continuation?.resume(throwing: DXLError.notConnected)
            request.callback?(.failure(.notConnected))
        }
    }

    /// Waits until the client is connected again (after a lost connection), at most `timeout`.
    /// Returns whether it is connected.
    @discardableResult
    public func waitUntilConnected(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !transport.isConnected && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return transport.isConnected
    }

    // MARK: Sending

    /// Publishes `message` on its `destinationTopic` (stamping the reply-to topic on requests).
    public func send(_ message: DXLMessage) throws(DXLError) {
        var message = message
        if message.type == .request { message.replyToTopic = replyToTopic }
        try publish(message, remember: mayReturn(message.destinationTopic))
    }

    /// Sends an event with `payload` on `topic`.
    public func sendEvent(topic: String, payload: [UInt8]) throws(DXLError) {
        // An event that cannot come back to this client needs no remembered id: it is encoded from the
        // fields of this client's events, encoded once.
        if mayReturn(topic) {
            try publish(.event(topic: topic, payload: payload), remember: true)
        } else {
            try send(eventEncoder.encode(payload: payload), to: topic)
        }
    }

    /// `message` with this client as its source, when the configuration asks for it (`stampedBrokerId`).
    static func stamped(_ message: DXLMessage, clientId: String, config: DXLClientConfig) -> DXLMessage {
        var message = message
        if let brokerId = config.stampedBrokerId {
            if message.sourceClientId.isEmpty { message.sourceClientId = clientId }
            if message.sourceBrokerId.isEmpty { message.sourceBrokerId = brokerId }
        }
        return message
    }

    /// Sends `message`, stamped; with `remember` (see `mayReturn`) its id is kept so that it is dropped
    /// when it comes back.
    func publish(_ message: DXLMessage, remember: Bool) throws(DXLError) {
        let message = Self.stamped(message, clientId: clientId, config: config)
        if remember {
            state.withLock { $0.sentIds.insert(message.messageId) }
        }
        var bytes = DXLMessageCodec.encode(message)
        if let limit = config.maxMessageSize, bytes.count > limit, message.type == .response {
            // Other messages over the limit are refused by `send`.
            logger.warning("a response of \(bytes.count) bytes to \(message.requestMessageId ?? "?") is over the fabric's limit of \(limit) bytes: answered with an error instead")
            var refusal = message
            refusal.type = .errorResponse
            refusal.payload = []
            refusal.errorCode = DXLErrorCode.brokerWireForm(DXLErrorCode.responseTooLarge)
            refusal.errorMessage = "the response (\(bytes.count) bytes) is larger than the fabric's message limit (\(limit) bytes): ask for less"
            bytes = DXLMessageCodec.encode(refusal)
        }
        try send(bytes, to: message.destinationTopic)
    }

    /// Whether a message on `topic` can come back to this client and must be dropped then: only when it
    /// ignores its own messages and subscribes to the topic.
    func mayReturn(_ topic: String) -> Bool {
        guard config.ignoresOwnMessages && config.protocolVersion == .v311 else { return false }
        return state.withLock { state in
            state.subscriptionCounts[topic] != nil
                || (state.hasWildcardSubscriptions && DXLTopic.candidates(for: topic).contains { state.subscriptionCounts[$0] != nil })
        }
    }

    /// Publishes `bytes` on `topic`; a message over the fabric's limit fails here, as the broker would
    /// refuse it.
    func send(_ bytes: [UInt8], to topic: String) throws(DXLError) {
        if let limit = config.maxMessageSize, bytes.count > limit {
            throw .messageTooLarge(topic: topic, size: bytes.count, limit: limit)
        }
        do {
            try transport.publish(topic: topic, payload: bytes)
        } catch {
            throw error == .notConnected ? .notConnected : .transport(error)
        }
    }

    /// When more than `limit` publishes are queued in this process and not yet written to the broker,
    /// waits until half of them are written (or the connection is gone), so that a fast producer keeps
    /// memory bounded (flow control for QoS 0 bursts) and is woken a few times per `limit` events
    /// while the socket stays busy with the other half. `limit: 0` waits until everything is written.
    public func waitForSendCapacity(limit: Int = 10_000) async {
        guard transport.unwrittenPublishes > limit else { return }
        await transport.waitUntilUnwritten(atMost: limit / 2)
    }

    /// Publishes queued in this process and not yet written to the broker.
    public var unwrittenPublishes: Int { transport.unwrittenPublishes }

}

/// Breaks the reference cycle between the client and the transport's handlers.
private final class WeakClientBox: @unchecked Sendable {
    // Written once, before the transport can deliver anything; read-only afterwards.
    weak var client: DXLClient?
}

/// The most recent message ids this client sent, to drop them when they come back (MQTT 3.1.1 has no No Local).
struct RecentIds {
    var ring: [String]
    var members: Set<String>
    var next = 0

    init(capacity: Int) {
        ring = Array(repeating: "", count: capacity)
        members = Set(minimumCapacity: capacity)
    }

    mutating func insert(_ id: String) {
        let old = ring[next]
        if !old.isEmpty { members.remove(old) }
        ring[next] = id
        members.insert(id)
        next = (next + 1) % ring.count
    }

    func contains(_ id: String) -> Bool { members.contains(id) }

    var isEmpty: Bool { members.isEmpty }
}
