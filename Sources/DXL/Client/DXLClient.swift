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
        fileprivate let id: UInt64
        fileprivate let topic: String
        fileprivate let kind: Kind
        fileprivate enum Kind: Hashable, Sendable { case event, request }
    }

    private struct Registration {
        let id: UInt64
        let callback: @Sendable (DXLMessage) -> Void
    }

    private struct PendingRequest {
        let topic: String
        let continuation: CheckedContinuation<DXLMessage, any Error>?
        let callback: (@Sendable (Result<DXLMessage, DXLError>) -> Void)?
        var deadline: ContinuousClock.Instant
        var timeout: Duration
    }

    private struct State {
        var nextId: UInt64 = 1
        var eventCallbacks: [String: [Registration]] = [:]
        var requestCallbacks: [String: [Registration]] = [:]
        var hasWildcardCallbacks = false
        /// With wildcard callbacks: topic → the callbacks a message on it reaches, for events and requests
        /// (topics repeat, so the prefix walk is done once per topic; cleared when callbacks change).
        var resolvedEvents: [String: [Registration]] = [:]
        var resolvedRequests: [String: [Registration]] = [:]
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
    private let transport: MQTTTransport
    private let state: Mutex<State>
    private let logger: Logger
    /// This client's events, stamped as `publish` stamps them.
    private let eventEncoder: DXLEventEncoder

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

    private func connectToFabric() async throws(DXLError) {
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

    private func subscribeAfterConnect() async throws(DXLError) {
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

    private func restoreAfterReconnect() {
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

    private func markDisconnected() {
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
    private static func stamped(_ message: DXLMessage, clientId: String, config: DXLClientConfig) -> DXLMessage {
        var message = message
        if let brokerId = config.stampedBrokerId {
            if message.sourceClientId.isEmpty { message.sourceClientId = clientId }
            if message.sourceBrokerId.isEmpty { message.sourceBrokerId = brokerId }
        }
        return message
    }

    /// Sends `message`, stamped; with `remember` (see `mayReturn`) its id is kept so that it is dropped
    /// when it comes back.
    private func publish(_ message: DXLMessage, remember: Bool) throws(DXLError) {
        let message = Self.stamped(message, clientId: clientId, config: config)
        if remember {
            state.withLock { $0.sentIds.insert(message.messageId) }
        }
        var bytes = DXLMessageCodec.encode(message)
        if let limit = config.maxMessageSize, bytes.count > limit {
            guard message.type == .response else {
                throw .messageTooLarge(topic: message.destinationTopic, size: bytes.count, limit: limit)
            }
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
    private func mayReturn(_ topic: String) -> Bool {
        guard config.ignoresOwnMessages && config.protocolVersion == .v311 else { return false }
        return state.withLock { state in
            state.subscriptionCounts[topic] != nil
                || (state.hasWildcardSubscriptions && DXLTopic.candidates(for: topic).contains { state.subscriptionCounts[$0] != nil })
        }
    }

    private func send(_ bytes: [UInt8], to topic: String) throws(DXLError) {
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

    /// Sends `request` and waits for its response (a Response or an ErrorResponse, which is returned,
    /// not thrown, as `dxlclient`'s `sync_request` does). Throws `DXLError.timeout` after `timeout`, and
    /// `DXLError.cancelled` at once when the waiting task is cancelled.
    public func request(_ request: DXLMessage, timeout: Duration = .seconds(3600)) async throws(DXLError) -> DXLMessage {
        let id = request.messageId
        let cancelled = DXLError.cancelled(topic: request.destinationTopic, messageId: id)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<DXLMessage, any Error>) in
                    startRequest(request, timeout: timeout, continuation: continuation, callback: nil)
                    // Cancelled before the request was pending: the handler found nothing to end.
                    if Task.isCancelled { finish(id, with: .failure(cancelled)) }
                }
            } onCancel: {
                finish(id, with: .failure(cancelled))
            }
        } catch let error as DXLError {
            throw error
        } catch {
            throw .notConnected
        }
    }

    /// Sends `request`; `callback` gets the response (or error response) or a timeout, exactly once.
    public func asyncRequest(_ request: DXLMessage, timeout: Duration = .seconds(3600), callback: @escaping @Sendable (Result<DXLMessage, DXLError>) -> Void) {
        startRequest(request, timeout: timeout, continuation: nil, callback: callback)
    }

    /// Records `request` as pending (answered through `continuation` or `callback`), stamps it and sends it.
    private func startRequest(_ request: DXLMessage, timeout: Duration, continuation: CheckedContinuation<DXLMessage, any Error>?,
                              callback: (@Sendable (Result<DXLMessage, DXLError>) -> Void)?) {
        var request = request
        request.type = .request
        request.replyToTopic = replyToTopic
        let pending = PendingRequest(topic: request.destinationTopic, continuation: continuation, callback: callback, deadline: .now + timeout, timeout: timeout)
        state.withLock { $0.pending[request.messageId] = pending }
        do {
            try publish(request, remember: mayReturn(request.destinationTopic))
        } catch {
            finish(request.messageId, with: .failure(error))
            return
        }
        // One task per client expires timed-out requests (every 10 ms), instead of a timer task per
        // request: requests stay cheap under load, and their memory is released when they end.
        let startReaper = state.withLock { state -> Bool in
            guard !state.reaperRunning, !state.pending.isEmpty else { return false }
            state.reaperRunning = true
            return true
        }
        if startReaper {
            Task { [weak self] in await self?.expireRequests() }
        }
    }

    private func expireRequests() async {
        while true {
            try? await Task.sleep(for: .milliseconds(10))
            let now = ContinuousClock.now
            let (expired, keepRunning) = state.withLock { state -> ([(String, PendingRequest)], Bool) in
                let expired = state.pending.filter { $0.value.deadline <= now }
                for (id, _) in expired { state.pending[id] = nil }
                if state.pending.isEmpty { state.reaperRunning = false }
                return (Array(expired), !state.pending.isEmpty)
            }
            for (id, request) in expired {
                let error = DXLError.timeout(topic: request.topic, messageId: id, timeout: request.timeout)
                request.continuation?.resume(throwing: error)
                request.callback?(.failure(error))
            }
            if !keepRunning { return }
        }
    }

    private func finish(_ id: String, with result: Result<DXLMessage, DXLError>) {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if let continuation = pending.continuation {
            continuation.resume(with: result.mapError { $0 as any Error })
        }
        pending.callback?(result)
    }

    // MARK: Callbacks and subscriptions

    /// Calls `callback` for every event on `topic` (a trailing `#` matches everything below), and
    /// subscribes to it if needed, waiting for the broker's SUBACK when connected.
    @discardableResult
    public func addEventCallback(topic: String, subscribe: Bool = true, _ callback: @escaping @Sendable (DXLMessage) -> Void) async throws(DXLError) -> CallbackToken {
        let token = addCallback(kind: .event, topic: topic, callback)
        if subscribe { try await self.subscribe(topic) }
        return token
    }

    /// Calls `callback` for every request on `topic`, and subscribes to it.
    @discardableResult
    public func addRequestCallback(topic: String, _ callback: @escaping @Sendable (DXLMessage) -> Void) async throws(DXLError) -> CallbackToken {
        let token = addCallback(kind: .request, topic: topic, callback)
        try await subscribe(topic)
        return token
    }

    private func addCallback(kind: CallbackToken.Kind, topic: String, _ callback: @escaping @Sendable (DXLMessage) -> Void) -> CallbackToken {
        state.withLock { state in
            let id = state.nextId
            state.nextId += 1
            let registration = Registration(id: id, callback: callback)
            switch kind {
            case .event: state.eventCallbacks[topic, default: []].append(registration)
            case .request: state.requestCallbacks[topic, default: []].append(registration)
            }
            if topic.hasSuffix("#") { state.hasWildcardCallbacks = true }
            state.resolvedEvents.removeAll()
            state.resolvedRequests.removeAll()
            return CallbackToken(id: id, topic: topic, kind: kind)
        }
    }

    /// Calls `observer` with every message this client receives — requests, responses, error responses
    /// and events, including responses meant for other clients when subscribed to their reply topics —
    /// before normal dispatch. For recorders and journals; subscribe to what should be seen.
    public func addMessageObserver(_ observer: @escaping @Sendable (DXLMessage) -> Void) {
        state.withLock { state in
            let id = state.nextId
            state.nextId += 1
            state.observers.append(Registration(id: id, callback: observer))
        }
    }

    /// Removes a callback; unsubscribes from its topic when nothing else needs it.
    public func removeCallback(_ token: CallbackToken) {
        let removed = state.withLock { state -> Bool in
            state.resolvedEvents.removeAll()
            state.resolvedRequests.removeAll()
            switch token.kind {
            case .event:
                guard let before = state.eventCallbacks[token.topic]?.count else { return false }
                state.eventCallbacks[token.topic]?.removeAll { $0.id == token.id }
                if state.eventCallbacks[token.topic]?.isEmpty == true { state.eventCallbacks[token.topic] = nil }
                return (state.eventCallbacks[token.topic]?.count ?? 0) < before
            case .request:
                guard let before = state.requestCallbacks[token.topic]?.count else { return false }
                state.requestCallbacks[token.topic]?.removeAll { $0.id == token.id }
                if state.requestCallbacks[token.topic]?.isEmpty == true { state.requestCallbacks[token.topic] = nil }
                return (state.requestCallbacks[token.topic]?.count ?? 0) < before
            }
        }
        if removed { unsubscribe(token.topic) }
    }

    /// Subscribes to `topic` (reference-counted), waiting for the SUBACK when connected.
    public func subscribe(_ topic: String) async throws(DXLError) {
        let isNew = state.withLock { state -> Bool in
            state.subscriptionCounts[topic, default: 0] += 1
            if topic.hasSuffix("#") { state.hasWildcardSubscriptions = true }
            return state.subscriptionCounts[topic] == 1 && state.connected
        }
        guard isNew else { return }
        do { try await transport.subscribe(topic) } catch { throw .transport(error) }
    }

    /// Drops one reference to `topic`; unsubscribes when it was the last.
    public func unsubscribe(_ topic: String) {
        let isLast = state.withLock { state -> Bool in
            guard let count = state.subscriptionCounts[topic] else { return false }
            if count <= 1 {
                state.subscriptionCounts[topic] = nil
                return true
            }
            state.subscriptionCounts[topic] = count - 1
            return false
        }
        if isLast { transport.unsubscribe(topic) }
    }

    /// The topics this client is subscribed to.
    public var subscriptions: Set<String> { state.withLock { Set($0.subscriptionCounts.keys) } }

    // MARK: Receiving (network thread)

    private func receive(topic: String, payload: UnsafeRawBufferPointer) {
        let message: DXLMessage
        do {
            message = try DXLMessageCodec.decode(payload, topic: topic)
        } catch {
            logger.warning("skipped a malformed message on \(topic) (\(payload.count) bytes): \(error)")
            return
        }
        let observers = state.withLock { $0.observers }
        for observer in observers { observer.callback(message) }
        switch message.type {
        case .response, .errorResponse:
            if let requestId = message.requestMessageId {
                finish(requestId, with: .success(message))
            }
        case .event, .request:
            let callbacks: [Registration] = state.withLock { state in
                if !state.sentIds.isEmpty && state.sentIds.contains(message.messageId) {
                    return []
                }
                let isEvent = message.type == .event
                if !state.hasWildcardCallbacks { return (isEvent ? state.eventCallbacks : state.requestCallbacks)[topic] ?? [] }
                if let resolved = isEvent ? state.resolvedEvents[topic] : state.resolvedRequests[topic] { return resolved }
                let table = isEvent ? state.eventCallbacks : state.requestCallbacks
                let resolved = DXLTopic.candidates(for: topic).flatMap { table[$0] ?? [] }
                // Bounded: a client seeing endless distinct topics (every reply topic) starts over now and then.
                if isEvent {
                    if state.resolvedEvents.count >= 4_096 { state.resolvedEvents.removeAll() }
                    state.resolvedEvents[topic] = resolved
                } else {
                    if state.resolvedRequests.count >= 4_096 { state.resolvedRequests.removeAll() }
                    state.resolvedRequests[topic] = resolved
                }
                return resolved
            }
            for registration in callbacks { registration.callback(message) }
        }
    }

    // MARK: Services

    /// Registers `service` with the fabric's service registry: subscribes to its topics, installs its
    /// handlers, and waits (at most `timeout`) for the registry's answer, as `register_service_sync` does.
    /// The registration is renewed every TTL and after each reconnect.
    public func registerService(_ service: ServiceRegistrationInfo, timeout: Duration = .seconds(10)) async throws(DXLError) {
        var tokens: [CallbackToken] = []
        for (topic, handler) in service.requestHandlers.sorted(by: { $0.key < $1.key }) {
            tokens.append(try await addRequestCallback(topic: topic, handler))
        }
        state.withLock { state in
            state.services[service.serviceGuid] = service
            state.serviceTokens[service.serviceGuid] = tokens
        }
        try await sendRegistration(service, timeout: timeout)
        let ttl = Duration.seconds(max(1, service.ttlMinutes) * 60)
        let renewal = Task { [weak self] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: ttl) } catch { return }
                try? await self?.sendRegistration(service)
            }
        }
        state.withLock { $0.renewalTasks[service.serviceGuid] = renewal }
    }

    private func sendRegistration(_ service: ServiceRegistrationInfo, timeout: Duration = .seconds(10)) async throws(DXLError) {
        var request = DXLMessage.request(topic: ServiceRegistryTopic.register, payload: service.registerPayload)
        request.destinationTenantGuids = service.destinationTenantGuids
        let reply = try await self.request(request, timeout: timeout)
        if reply.type == .errorResponse {
            throw .registration(serviceType: service.serviceType, reason: "registry refused: \(reply.errorMessage ?? "") (\(reply.errorCode))")
        }
    }

    /// Unregisters `service`: removes its handlers and subscriptions and tells the registry.
    public func unregisterService(_ service: ServiceRegistrationInfo, timeout: Duration = .seconds(60)) async throws(DXLError) {
        let (tokens, renewal) = state.withLock { state in
            state.services[service.serviceGuid] = nil
            return (state.serviceTokens.removeValue(forKey: service.serviceGuid) ?? [], state.renewalTasks.removeValue(forKey: service.serviceGuid))
        }
        renewal?.cancel()
        for token in tokens { removeCallback(token) }
        let reply = try await request(.request(topic: ServiceRegistryTopic.unregister, payload: service.unregisterPayload), timeout: timeout)
        if reply.type == .errorResponse {
            throw .registration(serviceType: service.serviceType, reason: "registry refused unregistration: \(reply.errorMessage ?? "") (\(reply.errorCode))")
        }
    }
}

/// Breaks the reference cycle between the client and the transport's handlers.
private final class WeakClientBox: @unchecked Sendable {
    // Written once, before the transport can deliver anything; read-only afterwards.
    weak var client: DXLClient?
}

/// The most recent message ids this client sent, to drop them when they come back (MQTT 3.1.1 has no No Local).
struct RecentIds {
    private var ring: [String]
    private var members: Set<String>
    private var next = 0

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
