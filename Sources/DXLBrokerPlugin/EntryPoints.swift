import CMosquittoBroker
import DXLBroker
import DXLBrokerFastPath
import DXLWire
#if canImport(Glibc)
import Glibc
#endif

// The plugin's C entry points, as mosquitto 2.0 looks them up (plugin API version 5). mosquitto calls
// every one of them, and every callback, from its one thread: the state below is only touched there.

/// The broker's DXL behaviour; set by `mosquitto_plugin_init`, released by `mosquitto_plugin_cleanup`.
/// Held unmanaged and without exclusivity checks: every callback reaches it, and on mosquitto's one
/// thread neither a retain per callback nor a runtime access check buys anything.
@exclusivity(unchecked) nonisolated(unsafe) private var core: Unmanaged<BrokerCore>?

/// Runs `body` with the core (`MOSQ_ERR_SUCCESS` when there is none), without retaining it; then tells
/// the C fast path what the core now leaves to it (every change to those conditions happens in a call
/// into the core).
@inline(__always)
private func withCore(_ body: (BrokerCore) -> Int32) -> Int32 {
    guard let core else { return MOSQ_ERR_SUCCESS.rawValue }
    return core._withUnsafeGuaranteedRef { core in
        let result = body(core)
        syncFastPath(core)
        return result
    }
}

/// Tells the C fast path what `core` now leaves to it.
private func syncFastPath(_ core: BrokerCore) {
    let conditions = core.shortcutConditions
    tiesim_fast_set_conditions(conditions.routePending ? 1 : 0, conditions.sendRules ? 1 : 0, conditions.receiveRules ? 1 : 0,
                               conditions.impostors ? 1 : 0, conditions.tickDue ? 1 : 0)
}
/// The password of the broker's internal listener (`plugin_opt_proxy_secret`): the WebSocket listener
/// tiesim runs in front of the broker connects there on behalf of a client whose certificate it checked,
/// with that certificate's identity as user name and this secret as password.
nonisolated(unsafe) private var proxySecret: [UInt8]?

@_cdecl("mosquitto_plugin_version")
public func mosquittoPluginVersion(_ count: Int32, _ versions: UnsafePointer<Int32>?) -> Int32 { 5 }

@_cdecl("mosquitto_plugin_init")
public func mosquittoPluginInit(_ identifier: OpaquePointer?, _ userData: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                _ options: UnsafeMutablePointer<mosquitto_opt>?, _ optionCount: Int32) -> Int32 {
    var fabricPath: String?
    var maxMessageSize = BrokerCore.defaultMaxMessageSize
    for index in 0..<Int(max(optionCount, 0)) {
        guard let option = options?[index], let key = option.key, let value = option.value else { continue }
        switch String(cString: key) {
        case "fabric": fabricPath = String(cString: value)
        case "max_message_size": maxMessageSize = Int(String(cString: value)).map { max($0, 1) } ?? maxMessageSize
        case "proxy_secret": proxySecret = Array(String(cString: value).utf8)
        default: break
        }
    }
    guard let fabricPath else {
        log(MOSQ_LOG_ERR, "tiesim-broker: plugin_opt_fabric (the fabric layout file tiesim writes) is missing")
        return MOSQ_ERR_INVAL.rawValue
    }
    let layout: BrokerLayout
    do {
        guard let bytes = readFile(fabricPath) else { throw BrokerLayout.Invalid(description: "cannot read the file") }
        layout = try BrokerLayout(json: try JSONValue.parse(bytes))
    } catch {
        log(MOSQ_LOG_ERR, "tiesim-broker: \(fabricPath): \(error)")
        return MOSQ_ERR_INVAL.rawValue
    }
    core?.release()
    core = Unmanaged.passRetained(BrokerCore(layout: layout, clock: { milliseconds(CLOCK_REALTIME) }, monotonic: { milliseconds(CLOCK_MONOTONIC_COARSE) },
                                             maxMessageSize: maxMessageSize))
    if tiesim_fast_start(layout.bridgePrefix, maxMessageSize) != 1 {
        log(MOSQ_LOG_INFO, "tiesim-broker: the bridges' id prefix is too long for the fast path: every message goes through the core")
    }
    core.map { syncFastPath($0.takeUnretainedValue()) }
    let events: [(mosquitto_plugin_event, MOSQ_FUNC_generic_callback)] = [
        (MOSQ_EVT_BASIC_AUTH, onConnect), (MOSQ_EVT_ACL_CHECK, onAccessCheck), (MOSQ_EVT_MESSAGE, onMessage),
        (MOSQ_EVT_TICK, onTick), (MOSQ_EVT_DISCONNECT, onDisconnect),
    ]
    for (event, callback) in events {
        let rc = mosquitto_callback_register(identifier, Int32(event.rawValue), callback, nil, nil)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { return rc }
    }
    log(MOSQ_LOG_INFO, "tiesim-broker: DXL broker \(layout.me.guid) (\(layout.index + 1) of \(layout.brokers.count))")
    return MOSQ_ERR_SUCCESS.rawValue
}

@_cdecl("mosquitto_plugin_cleanup")
public func mosquittoPluginCleanup(_ userData: UnsafeMutableRawPointer?, _ options: UnsafeMutablePointer<mosquitto_opt>?, _ optionCount: Int32) -> Int32 {
    tiesim_fast_stop()
    core?.release()
    core = nil
    return MOSQ_ERR_SUCCESS.rawValue
}

// MARK: Callbacks

/// Every client connecting (mosquitto asks before accepting it). On the TLS listener the handshake
/// checked its certificate against the fabric's CA, and the certificate's common name is its identity.
/// A client without a certificate came through the internal listener: only the WebSocket listener may
/// connect there (with the secret as password), naming the identity it checked as user name.
private let onConnect: MOSQ_FUNC_generic_callback = { _, data, _ in
    withCore { core in
        guard let event = data?.assumingMemoryBound(to: mosquitto_evt_basic_auth.self).pointee, let client = event.client else {
            return MOSQ_ERR_SUCCESS.rawValue
        }
        var identity = commonName(client)
        if identity.isEmpty {
            guard let proxySecret, let password = event.password, let username = event.username,
                  Array(UnsafeRawBufferPointer(start: password, count: strlen(password))) == proxySecret else {
                log(MOSQ_LOG_NOTICE, "tiesim-broker: refused a client without a certificate on the internal listener")
                return MOSQ_ERR_AUTH.rawValue
            }
            identity = String(cString: username)
        }
        let id = mosquitto_client_id(client).map { String(cString: $0) } ?? ""
        knownIds.remember(id, for: client)
        tiesim_fast_forget_publisher(UnsafeRawPointer(client))
        // A client without a clean session gets its subscriptions back from mosquitto without subscribing.
        core.connected(id, identity: identity, connection: connectionKey(client), persistent: !mosquitto_client_clean_session(client))
        if core.hasActions { perform(core.takeActions()) }
        return MOSQ_ERR_SUCCESS.rawValue
    }
}

private let onAccessCheck: MOSQ_FUNC_generic_callback = { _, data, _ in
    // An event's recipient, and every publish (decided with its message): mostly the C fast path.
    if tiesim_fast_access(data) != 0 { return MOSQ_ERR_SUCCESS.rawValue }
    return withCore { core in
        guard let event = data?.assumingMemoryBound(to: mosquitto_evt_acl_check.self), let client = event.pointee.client,
              let topicPointer = event.pointee.topic else {
            return MOSQ_ERR_SUCCESS.rawValue
        }
        let access = event.pointee.access
        if access == MOSQ_ACL_WRITE {
            return MOSQ_ERR_SUCCESS.rawValue  // decided with the message (mosquitto 2.0.11 disconnects a client whose publish is denied)
        }
        var allowed = true
        switch access {
        case MOSQ_ACL_READ:
            let payload = UnsafeRawBufferPointer(start: event.pointee.payload, count: Int(event.pointee.payloadlen))
            allowed = core.mayRead(knownIds.recipient(client), topic: TopicName(cString: topicPointer), payload: payload)
        case MOSQ_ACL_SUBSCRIBE:
            core.subscribed(knownIds.id(of: client), to: String(cString: topicPointer))
        case MOSQ_ACL_UNSUBSCRIBE:
            core.unsubscribed(knownIds.id(of: client), from: String(cString: topicPointer))
        default:
            break
        }
        if core.hasActions { perform(core.takeActions()) }
        return allowed ? MOSQ_ERR_SUCCESS.rawValue : MOSQ_ERR_ACL_DENIED.rawValue
    }
}

private let onMessage: MOSQ_FUNC_generic_callback = { _, data, _ in
    // An event or response from the last publisher the core saw, with no rule or route in the way: the C
    // fast path stamps it as the core would.
    if tiesim_fast_message(data) != 0 { return MOSQ_ERR_SUCCESS.rawValue }
    return withCore { core in
        guard let event = data?.assumingMemoryBound(to: mosquitto_evt_message.self), let client = event.pointee.client,
              let topicPointer = event.pointee.topic else {
            return MOSQ_ERR_SUCCESS.rawValue
        }
        let payload = UnsafeRawBufferPointer(start: event.pointee.payload, count: Int(event.pointee.payloadlen))
        let publisher = knownIds.publisher(client)
        let verdict = core.message(from: publisher, topic: TopicName(cString: topicPointer), payload: payload, qos: Int(event.pointee.qos))
        // Its next events on this topic may take the fast path, stamped with the same bytes (bridges' never do).
        // Both depend on the client and the topic alone: a client's requests, which always come here, do
        // not work them out again.
        if tiesim_fast_holds(UnsafeRawPointer(client), topicPointer) == 0 {
            if let stamp = core.shortcutStamp(for: publisher), core.shortcutMaySend(publisher, topic: String(cString: topicPointer)) {
                stamp.withUnsafeBytes { tiesim_fast_set_publisher(UnsafeRawPointer(client), $0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count, topicPointer) }
            } else {
                tiesim_fast_forget_publisher(UnsafeRawPointer(client))
            }
        }
        if core.hasActions { perform(core.takeActions()) }
        switch verdict {
        case .pass:
            break
        case .drop:
            replacePayload(event, with: BrokerCore.droppedMarker)
        case .replace(let bytes):
            replacePayload(event, with: bytes)
        case .restamp(let range, let clientId, let brokerId):
            // Stamped straight into the buffer mosquitto will own.
            replacePayload(event, count: DXLHeader.restampedCount(payload, range: range, clientId: clientId, brokerId: brokerId)) { copy in
                DXLHeader.writeRestamped(payload, range: range, clientId: clientId, brokerId: brokerId, into: copy)
            }
        }
        return MOSQ_ERR_SUCCESS.rawValue
    }
}

/// Gives the message `count` new bytes that `write` fills, in a buffer from mosquitto's allocator (it
/// frees the old payload and owns the new one); left as it was if there is no memory.
private func replacePayload(_ event: UnsafeMutablePointer<mosquitto_evt_message>, count: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
    guard let copy = mosquitto_malloc(max(count, 1)) else { return }
    write(copy)
    event.pointee.payload = copy
    event.pointee.payloadlen = UInt32(count)
}

/// Gives the message `bytes` as its payload (see above).
private func replacePayload(_ event: UnsafeMutablePointer<mosquitto_evt_message>, with bytes: [UInt8]) {
    replacePayload(event, count: bytes.count) { copy in
        bytes.withUnsafeBytes { if let base = $0.baseAddress { copy.copyMemory(from: base, byteCount: $0.count) } }
    }
}

private let onTick: MOSQ_FUNC_generic_callback = { _, _, _ in
    // mosquitto ticks every turn of its loop; the core's clock moves by the millisecond.
    if tiesim_fast_tick() == 0 { return MOSQ_ERR_SUCCESS.rawValue }
    return withCore { core in
        var incoming: UInt64 = 0, outgoing: UInt64 = 0
        tiesim_fast_take_counts(&incoming, &outgoing)
        if incoming | outgoing != 0 { core.addShortcutCounts(incoming: Int(incoming), outgoing: Int(outgoing)) }
        core.tick()
        if core.hasActions { perform(core.takeActions()) }
        return MOSQ_ERR_SUCCESS.rawValue
    }
}

private let onDisconnect: MOSQ_FUNC_generic_callback = { _, data, _ in
    withCore { core in
        guard let event = data?.assumingMemoryBound(to: mosquitto_evt_disconnect.self).pointee, let client = event.client else {
            return MOSQ_ERR_SUCCESS.rawValue
        }
        let id = knownIds.id(of: client)
        knownIds.forget(client)
        tiesim_fast_forget_publisher(UnsafeRawPointer(client))
        guard mosquitto_client_id(client) != nil else { return MOSQ_ERR_SUCCESS.rawValue }
        core.disconnected(id, connection: connectionKey(client))
        if core.hasActions { perform(core.takeActions()) }
        return MOSQ_ERR_SUCCESS.rawValue
    }
}

// MARK: Helpers

private func perform(_ actions: [BrokerAction]) {
    for action in actions {
        switch action {
        case .publish(let topic, let payload, let client):
            let rc = payload.withUnsafeBytes { bytes in
                mosquitto_broker_publish_copy(client, topic, Int32(bytes.count), bytes.baseAddress, 0, false, nil)
            }
            if rc != MOSQ_ERR_SUCCESS.rawValue { log(MOSQ_LOG_WARNING, "tiesim-broker: could not publish on \(topic): error \(rc)") }
        case .log(let line):
            log(MOSQ_LOG_INFO, line)
        }
    }
}

/// The ids of connected clients by connection, so that a message's checks do not make a `String` from
/// the client's C string each time (filled on connect, emptied on disconnect); the last publisher's and
/// the last recipient's are kept apart as well (a stream mostly comes from one client and goes to a few),
/// so that most lookups are one comparison.
private struct KnownIds {
    var ids: [UInt: String] = [:]
    var lastPublisher = Last()
    var lastRecipient = Last()

    /// One client's id, kept for the next lookup of the same connection.
    struct Last {
        var key: UInt = 0
        var id = ""

        /// The id of `client`: this one's when it is that connection, else looked up in `ids` and kept.
        mutating func id(of client: OpaquePointer, in ids: [UInt: String]) -> String {
            let key = connectionKey(client)
            if self.key != key { self = Last(key: key, id: KnownIds.id(of: client, in: ids)) }
            return id
        }
    }

    mutating func remember(_ id: String, for client: OpaquePointer) {
        ids[connectionKey(client)] = id
        lastPublisher = Last()
        lastRecipient = Last()
    }

    /// Forgets `client` (mosquitto may reuse its address for another connection).
    mutating func forget(_ client: OpaquePointer) {
        ids[connectionKey(client)] = nil
        lastPublisher = Last()
        lastRecipient = Last()
    }

    func id(of client: OpaquePointer) -> String { Self.id(of: client, in: ids) }

    static func id(of client: OpaquePointer, in ids: [UInt: String]) -> String {
        if let known = ids[connectionKey(client)] { return known }
        return mosquitto_client_id(client).map { String(cString: $0) } ?? ""
    }

    mutating func publisher(_ client: OpaquePointer) -> String { lastPublisher.id(of: client, in: ids) }

    mutating func recipient(_ client: OpaquePointer) -> String { lastRecipient.id(of: client, in: ids) }
}

@exclusivity(unchecked) nonisolated(unsafe) private var knownIds = KnownIds()

private func connectionKey(_ client: OpaquePointer) -> UInt { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(client))) }

private func commonName(_ client: OpaquePointer) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    let length = tiesim_certificate_common_name(mosquitto_client_certificate(client), &buffer, Int32(buffer.count))
    guard length > 0 else { return "" }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func log(_ level: Int32, _ text: String) {
    tiesim_broker_log(level, text)
}

/// Clock `clock` (wall or monotonic) in milliseconds. The monotonic one is the coarse clock (it moves
/// by the kernel's tick, a jiffy: 1–10 ms): mosquitto ticks the plugin at every turn of its loop, once per
/// message under load, and what the time decides there (announcements, TTLs, held queries) is measured
/// in hundreds of milliseconds.
private func milliseconds(_ clock: clockid_t) -> Int64 {
    var time = timespec()
    clock_gettime(clock, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
}

private func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count > 0 { result += chunk.prefix(count) }
        if count < chunk.count { break }
        if result.count > 16 << 20 { return nil }
    }
    return result
}
