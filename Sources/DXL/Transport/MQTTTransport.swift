import CMosquitto
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization

/// A thin wrapper over one libmosquitto client: the only code in tiesim that imports `CMosquitto`.
///
/// Threading: every method may be called from any thread except `disconnect()`, which must not be
/// called from inside a handler. One network thread per transport runs the network loop (libmosquitto's
/// read, write and housekeeping steps around `poll(2)`, not `mosquitto_loop`, whose `select(2)` refuses
/// descriptors from 1024 up), reads and writes the socket and
/// reconnects with exponential backoff after a lost connection, whatever ended it; it calls the
/// handlers one at a time, so they must be quick and must not block. Handlers reach Swift through the
/// userdata pointer; the state they touch is guarded by a `Mutex`.
public final class MQTTTransport: @unchecked Sendable {
    /// What the transport reports; each closure runs on the network thread.
    public struct Handlers: Sendable {
        /// A message arrived; the buffer is valid only during the call.
        public var message: @Sendable (_ topic: String, _ payload: UnsafeRawBufferPointer) -> Void
        /// The connection came back after a loss (not called for the first connect).
        public var reconnected: @Sendable () -> Void
        /// The connection was lost unexpectedly; libmosquitto will try to reconnect.
        public var connectionLost: @Sendable (_ reason: String) -> Void

        public init(
            message: @escaping @Sendable (String, UnsafeRawBufferPointer) -> Void,
            reconnected: @escaping @Sendable () -> Void = {},
            connectionLost: @escaping @Sendable (String) -> Void = { _ in }
        ) {
            self.message = message
            self.reconnected = reconnected
            self.connectionLost = connectionLost
        }
    }

    struct State {
        var connectWaiter: CheckedContinuation<Void, any Error>?
        /// `connect` calls that have dialled (or are dialling) and not yet started waiting: a CONNACK that
        /// comes meanwhile is theirs (kept in `earlyConnack` for the newest), not an older waiter's.
        var dialling = 0
        var earlyConnack: Int32?
        /// How many `connect` calls there were; `connectWaiter` is the last one's (its timeout fails that one only).
        var connectAttempts = 0
        var connectTarget = (host: "", port: 0)
        /// Where to reconnect after a loss, in order (the brokers of a client's configuration).
        var failoverTargets: [(host: String, port: Int)] = []
        /// The broker the last connect attempt dialled (it becomes `connectTarget` once it accepts us).
        var dialled = (host: "", port: 0)
        /// Reconnect attempts that failed since the broker last accepted us (reset by its CONNACK).
        var failures = 0
        var keepAlive = 1800
        var subscribeWaiters: [Int32: CheckedContinuation<Int32, Never>] = [:]
        /// Tasks in `waitUntilUnwritten`, each with the count it waits for.
        var drainWaiters: [(limit: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var hasConnected = false
        var isConnected = false
        var loopRunning = false
    }

    private static let libraryInitialized: Bool = {
        mosquitto_lib_init()
        return true
    }()

    /// The libmosquitto handle (owned by `resources`).
    var handle: OpaquePointer { resources.handle }
    let handlers: Handlers
    /// QoS 0 publishes handed to libmosquitto and not yet written to the socket.
    let unwritten = Atomic<Int>(0)
    /// How many times `unwritten` was reset (see `forgetUnwritten`), so that a publish that failed after a
    /// reset does not take back a count the reset already dropped.
    let unwrittenResets = Atomic<Int>(0)
    /// The highest count a task in `waitUntilUnwritten` waits for, -1 when none waits: the publish
    /// callback only takes the lock when `unwritten` falls to it.
    let drainThreshold = Atomic<Int>(-1)
    /// Wakes the network thread from its reconnect wait when closing.
    let closeSignal = DispatchSemaphore(value: 0)
    /// The handle, the TLS context and the wake-up pipe, freed by whoever lets them go last: this
    /// transport, or its network thread when the transport was dropped from inside a handler (then the
    /// thread is still inside libmosquitto and must finish its turn first).
    let resources: Resources
    /// Set by `shutdown()` until the next `connect`; read by the network loop on every turn, without the lock.
    let closingFlag = Atomic<Bool>(false)
    /// Signalled when the network thread has ended.
    let loopStopped = DispatchSemaphore(value: 0)
    /// Longest wait between reconnect attempts after the network loop gave up.
    let reconnectDelayMaximum: UInt32
    /// Runs the blocking `mosquitto_connect` (see `connect`).
    private let connectQueue = DispatchQueue(label: "tiesim.transport.connect")
    let state = Mutex(State())
    private let protocolVersion: MQTTProtocolVersion
    let logger: Logger
    /// The MQTT client id.
    public let clientId: String

    /// Creates a transport with MQTT client id `clientId`, mutual TLS from `tls`, and `handlers`.
    public init(
        clientId: String,
        tls: TLSFiles,
        protocolVersion: MQTTProtocolVersion = .v311,
        maximumReconnectDelay: UInt32 = 60,
        logger: Logger = Logger(label: "tiesim.transport"),
        handlers: Handlers
    ) throws(TransportError) {
        _ = Self.libraryInitialized
        // Our own TLS context, reading ahead (the network loop drains what OpenSSL has buffered). Like
        // dxlclient: the broker's certificate must chain to the CA bundle; the host name is not checked. An
        // empty certificate path means no client certificate (to test that brokers refuse such clients).
        let certificate = tls.certificate.isEmpty ? nil : tls.certificate, key = tls.privateKey.isEmpty ? nil : tls.privateKey
        guard let context = tiesim_tls_context(tls.caBundle, certificate, key) else {
            throw .tlsSetup(reason: "OpenSSL refused them: \(Self.openSSLError()) (CA bundle \(tls.caBundle), certificate \(tls.certificate), key \(tls.privateKey))")
        }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            SSL_CTX_free(context)
            throw .library(operation: "pipe", code: MOSQ_ERR_ERRNO.rawValue, reason: String(cString: strerror(errno)))
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        guard let handle = mosquitto_new(clientId, true, nil) else {
            SSL_CTX_free(context)
            for end in ends { close(end) }
            throw .library(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue, reason: "out of memory")
        }
        self.resources = Resources(handle: handle, tlsContext: context, wakeReader: ends[0], wakeWriter: ends[1])
        self.handlers = handlers
        self.protocolVersion = protocolVersion
        self.logger = logger
        self.clientId = clientId
        self.reconnectDelayMaximum = max(1, maximumReconnectDelay)
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        if protocolVersion == .v5 {
            _ = mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V5))
        }
        // Small request/response packets must not wait for Nagle's algorithm (a 40 ms stall per request).
        _ = mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1)
        // Let the send queue grow as needed for QoS 0 bursts instead of failing publishes.
        _ = mosquitto_max_inflight_messages_set(handle, 0)
        // The context is used as it is: libmosquitto 2.0's defaults would install a verify callback that only
        // works with the contexts it makes itself.
        _ = mosquitto_int_option(handle, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0)
        let rc = mosquitto_void_option(handle, MOSQ_OPT_SSL_CTX, UnsafeMutableRawPointer(context))
        // (Every property is set: from here on a throw runs deinit, which frees the handle and the context.)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            throw .tlsSetup(reason: Self.errorText(rc))
        }
        installCallbacks()
    }

    deinit {
        shutdown()
        // No callback may reach this transport any more; the handle itself goes with `resources`.
        mosquitto_user_data_set(handle, nil)
    }

    /// Wakes the network thread to write what was just queued (a full pipe already means "wake up"). On
    /// the network thread itself (a handler answering) there is nothing to wake: it writes what its
    /// handlers queued when they return. A wake-up the thread has not taken yet covers this packet too
    /// (the thread takes it before writing what is queued), so a burst costs one `write(2)`, not one each.
    private func wake() {
        guard !resources.isLoopThread, !resources.wakePending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(resources.wakeWriter, &byte, 1)
    }


    /// OpenSSL's oldest queued error, as text (and the queue cleared).
    package static func openSSLError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no reason given" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        ERR_clear_error()
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func errorText(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue {
            return String(cString: strerror(errno))
        }
        return String(cString: mosquitto_strerror(rc))
    }

    /// Whether the broker has accepted the connection and it has not been lost since.
    public var isConnected: Bool { state.withLock { $0.isConnected } }

    /// Connects to `host:port` over TLS and waits for the broker's CONNACK, at most `timeout`.
    /// After a success, libmosquitto's network thread keeps the connection up, reconnecting with backoff.
    public func connect(host: String, port: Int, keepAlive: Int = 1800, timeout: Duration = .seconds(10)) async throws {
        state.withLock {
            $0.connectTarget = (host, port)
            $0.dialled = (host, port)
            $0.keepAlive = keepAlive
        }
        closingFlag.store(false, ordering: .sequentiallyConsistent)
        forgetUnwritten()
        state.withLock { state in
            state.dialling += 1
            state.earlyConnack = nil
        }
        // mosquitto_connect does the TCP connect and TLS handshake synchronously: keep it off the
        // cooperative thread pool, and off the global queue too — on Linux that queue runs at most one
        // thread per core, so a few handshakes elsewhere in the process (a test suite connecting dozens of
        // clients at once) would queue this connect behind them. A queue of our own gets its own thread.
        let resources = self.resources
        let rc: Int32 = await withCheckedContinuation { continuation in
            connectQueue.async {
                continuation.resume(returning: mosquitto_connect(resources.handle, host, Int32(port), Int32(keepAlive)))
            }
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            state.withLock { $0.dialling -= 1 }
            throw TransportError.connectFailed(host: host, port: port, reason: Self.errorText(rc))
        }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // A connect still waiting (a concurrent call) is told it was replaced, not left hanging.
                // The broker may have answered this one already (the network thread was running while it
                // dialled): then it is answered now.
                let (attempt, replaced, needsStart, early) = state.withLock { state in
                    state.connectAttempts += 1
                    state.dialling -= 1
                    let early = state.earlyConnack
                    state.earlyConnack = nil
                    defer {
                        if early == nil { state.connectWaiter = continuation }
                        state.loopRunning = true
                    }
                    return (state.connectAttempts, state.connectWaiter, !state.loopRunning, early)
                }
                replaced?.resume(throwing: Superseded())
                if let early {
                    if early == 0 {
                        continuation.resume()
                    } else {
                        continuation.resume(throwing: TransportError.refused(host: host, port: port, reason: String(cString: mosquitto_connack_string(early))))
                    }
                    return
                }
                if needsStart { startNetworkThread() }
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard let self else { return }
                    // Only this attempt's waiter: a later connect's must not time out on this clock.
                    let waiter = self.state.withLock { state -> CheckedContinuation<Void, any Error>? in
                        guard state.connectAttempts == attempt else { return nil }
                        defer { state.connectWaiter = nil }
                        return state.connectWaiter
                    }
                    waiter?.resume(throwing: TransportError.connectTimedOut(host: host, port: port))
                }
            }
        } catch is Superseded {
            // The newer connect owns the connection now: leave it up.
            throw TransportError.connectFailed(host: host, port: port, reason: "a newer connect took its place")
        } catch {
            shutdown()
            throw error
        }
    }

    /// A connect's wait ended by a newer connect (which must not be shut down with it).
    private struct Superseded: Error {}

    /// Where the transport reconnects after losing its broker: the brokers of a DXL fabric, in order. After
    /// a loss it tries the broker it had first, then the next ones in turn (with backoff between rounds), so
    /// a client whose configuration lists several brokers fails over when its broker stops.
    public func setFailoverTargets(_ targets: [(host: String, port: Int)]) {
        state.withLock { $0.failoverTargets = targets }
    }

    /// The broker the transport is connected (or reconnecting) to.
    public var currentTarget: (host: String, port: Int) { state.withLock { $0.connectTarget } }

    /// Publishes `payload` on `topic` at QoS 0. Does not wait for the bytes to leave.
    public func publish(topic: String, payload: [UInt8]) throws(TransportError) {
        // After `disconnect()` libmosquitto may still hold the socket (a DISCONNECT it could not write) and
        // would queue the packet, only for the next connect to drop it uncounted.
        guard !closingFlag.load(ordering: .relaxed) else { throw .notConnected }
        let resets = unwrittenResets.load(ordering: .sequentiallyConsistent)
        unwritten.add(1, ordering: .sequentiallyConsistent)
        let rc = payload.withUnsafeBytes { buffer in
            mosquitto_publish(handle, nil, topic, Int32(buffer.count), buffer.baseAddress, 0, false)
        }
        wake()
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            if unwrittenResets.load(ordering: .sequentiallyConsistent) == resets { unwritten.subtract(1, ordering: .sequentiallyConsistent) }
            if rc == MOSQ_ERR_NO_CONN.rawValue { throw .notConnected }
            throw .library(operation: "publish to \(topic)", code: rc, reason: Self.errorText(rc))
        }
    }

    /// Subscribes to `topic` at QoS 0 and waits for the SUBACK.
    public func subscribe(_ topic: String) async throws(TransportError) {
        // The waiter is registered under the same lock the SUBACK handler takes, so an early SUBACK
        // cannot be missed. (libmosquitto's subscribe only queues a packet; it takes no lock we hold.)
        let rc: Int32 = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let rc = state.withLock { state -> Int32 in
                var mid: Int32 = 0
                let rc = self.sendSubscribe(topic, mid: &mid)
                if rc == MOSQ_ERR_SUCCESS.rawValue {
                    state.subscribeWaiters[mid] = continuation
                }
                return rc
            }
            wake()  // outside the lock: the SUBSCRIBE is queued, the network thread writes it
            if rc != MOSQ_ERR_SUCCESS.rawValue { continuation.resume(returning: rc) }
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            if rc == MOSQ_ERR_NO_CONN.rawValue { throw .notConnected }
            throw .library(operation: "subscribe to \(topic)", code: rc, reason: Self.errorText(rc))
        }
    }

    /// Sends a SUBSCRIBE without waiting for its SUBACK (used to restore subscriptions after a reconnect).
    public func subscribeNoWait(_ topic: String) {
        var mid: Int32 = 0
        let rc = sendSubscribe(topic, mid: &mid)
        wake()
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            logger.warning("could not subscribe to \(topic): \(Self.errorText(rc))")
        }
    }

    private func sendSubscribe(_ topic: String, mid: inout Int32) -> Int32 {
        switch protocolVersion {
        case .v311:
            return mosquitto_subscribe(handle, &mid, topic, 0)
        case .v5:
            return mosquitto_subscribe_v5(handle, &mid, topic, 0, Int32(MQTT_SUB_OPT_NO_LOCAL.rawValue), nil)
        }
    }

    /// Unsubscribes from `topic` (does not wait for the UNSUBACK).
    public func unsubscribe(_ topic: String) {
        let rc = mosquitto_unsubscribe(handle, nil, topic)
        wake()
        if rc != MOSQ_ERR_SUCCESS.rawValue && rc != MOSQ_ERR_NO_CONN.rawValue {
            logger.warning("could not unsubscribe from \(topic): \(Self.errorText(rc))")
        }
    }

    /// Sends DISCONNECT after everything queued before it, and stops the network thread.
    /// Must not be called from a handler.
    public func disconnect() {
        shutdown()
    }


    private func shutdown() {
        closingFlag.store(true, ordering: .sequentiallyConsistent)
        let wasRunning = state.withLock { state -> Bool in
            defer { state.loopRunning = false }
            return state.loopRunning
        }
        _ = mosquitto_disconnect(handle)
        wake()
        if wasRunning {
            closeSignal.signal()
            // From a handler (a client dropped or disconnected in its own callback) the network thread
            // cannot wait for itself: it sees `closing` when the handler returns, and ends.
            if !resources.isLoopThread { loopStopped.wait() }
        }
        let waiters = state.withLock { state in
            state.isConnected = false
            defer { state.subscribeWaiters.removeAll() }
            return Array(state.subscribeWaiters.values)
        }
        for waiter in waiters { waiter.resume(returning: MOSQ_ERR_NO_CONN.rawValue) }
        // What was not written is dropped with the connection (the next connect starts afresh).
        forgetUnwritten()
    }
}
