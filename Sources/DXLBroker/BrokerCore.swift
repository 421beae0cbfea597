import DXLWire

/// Something the broker must do besides passing messages on: publish a message of its own (a reply, an
/// event, a note to the other brokers or to tiesim), or log a line.
public enum BrokerAction: Sendable, Equatable {
    /// Publish `payload` on `topic`: to the one client `client`, or (nil) to every subscriber and bridge.
    case publish(topic: String, payload: [UInt8], client: String?)
    case log(String)
}

/// What happens to a message a client published.
public enum MessageVerdict: Sendable, Equatable {
    /// Delivered as it came.
    case pass
    /// Delivered with these bytes instead (the broker's stamps).
    case replace([UInt8])
    /// Delivered with the bytes in `range` replaced by the encoded `clientId` then `brokerId`: the source
    /// ids of an event or response, stamped without decoding it (see `DXLHeader.writeRestamped`).
    case restamp(range: Range<Int>, clientId: [UInt8], brokerId: [UInt8])
    /// Not delivered to anyone (answered by the broker, or refused). mosquitto 2.0.11 disconnects a
    /// client whose publish a plugin denies, where the DXL broker drops it silently; so the message is
    /// kept, its payload replaced by `BrokerCore.droppedMarker`, which no broker of the fabric delivers.
    case drop
}

/// The DXL broker's behaviour, without mosquitto: what a DXL broker does with each message, subscription,
/// connection and tick. `DXLBrokerPlugin` feeds it mosquitto's events and carries out its answers; tests
/// feed it directly.
///
/// - Requests go to exactly one service: the one they name, or the next of their topic's services
///   round-robin, stamped with its id, broker and client. Only that client (or the bridge towards its
///   broker) receives them. No service, or a service whose client did not receive it: the requester gets
///   ErrorResponse 0x80000001 at once and the service is unregistered.
/// - The broker services (`/mcafee/service/dxl/…`) are answered here.
/// - Every message a client publishes carries this broker's GUID and the client's id as its source.
/// - The registry is fabric-wide: each broker announces its services, clients and subscriptions to the
///   others over the bridges (`/tiesim/broker/notes/announce`), on every change and once a second.
/// - Topic authorisation drops unauthorised sends and skips unauthorised recipients.
///
/// Threading: not thread-safe — mosquitto calls its plugins from its one thread.
public final class BrokerCore {
    public let layout: BrokerLayout
    /// Wall-clock milliseconds since 1970.
    let clock: () -> Int64
    /// Milliseconds for intervals (see `init`).
    let monotonic: () -> Int64
    /// The largest message a client may publish.
    public let maxMessageSize: Int
    public internal(set) var registry = ServiceRegistry()
    public internal(set) var clients = ClientTable()
    /// What the other brokers announced, by broker index.
    var remote: [Int: RemoteBroker] = [:]
    // The state that messages, recipient checks and mosquitto's loop turns touch is kept without runtime
    // exclusivity checks (each access otherwise calls `swift_beginAccess` in the Swift runtime): the core
    // runs on one thread, and no access to these overlaps another — keep it so, since an overlap would
    // no longer trap.
    /// The request being delivered now, and to whom.
    @exclusivity(unchecked) var route: Route?
    var held: [HeldQuery] = []
    @exclusivity(unchecked) var actions: [BrokerAction] = []
    @exclusivity(unchecked) var announceDue = true
    @exclusivity(unchecked) var lastAnnounce: Int64 = 0
    @exclusivity(unchecked) var lastSecond: Int64 = 0
    let startTime: Int64
    /// When this broker started, in milliseconds: tells a restarted broker from the one it replaces.
    public let session: Int64
    /// Messages in and out since the last second boundary, and the last second's rates.
    @exclusivity(unchecked) var counted = (incoming: 0, outgoing: 0)
    var rates = (incoming: 0.0, outgoing: 0.0)
    /// Journal notes sent this second, per kind, and those left out past the limit.
    var notesThisSecond: [String: Int] = [:]
    var notesLeftOut = 0

    /// tiesim's own topics of the broker (the DXL broker's are `ServiceRegistryTopic` and `BrokerServiceTopic`).
    public enum Topic {
        /// tiesim's question: who (other than the identities it names) receives a topic, fabric-wide.
        /// `{"topic": T, "ignoreIdentities": [...], "waitMs": N}` → `{"subscribers": [{"clientId", "identity", "broker"}]}`;
        /// with `waitMs`, the answer waits until there is one or the time is up.
        public static let subscribers = "/tiesim/broker/subscribers"
        /// tiesim's question of whether the bridges carry messages: `{"expect": {guid: session}, "waitMs": N}` →
        /// `{"me": {"guid", "session"}, "heard": {guid: session}, "complete": bool}`, answered once this broker
        /// has heard every expected broker announce itself in that session (or a later one) over the bridges.
        public static let fabric = "/tiesim/broker/fabric"
        /// Notes between brokers and to tiesim: only bridges may send here, only bridges and tiesim receive.
        public static let notesPrefix = "/tiesim/broker/notes/"
        static let notesPrefixStatic: StaticString = "/tiesim/broker/notes/"
        public static let announce = "/tiesim/broker/notes/announce"
        public static let journal = "/tiesim/broker/notes/journal"
        static let replyPrefix = "/mcafee/client/"
    }

    /// How long a broker that stopped announcing keeps its services in the others' registries.
    public static let silenceLimitMs: Int64 = 5_000
    /// Journal notes of one kind per second (the rest are counted, and the count is sent with the next):
    /// requests to services other than tiesim's are journaled up to 20,000 a second, refusals up to 200 (a
    /// flood of refused messages must not become a flood of notes).
    public static func notesPerSecond(_ kind: String) -> Int { kind == "request" ? 20_000 : 200 }

    /// The message size limit when none is given (mosquitto's own limit is far above any DXL message).
    public static let defaultMaxMessageSize = 1 << 30

    /// `clock`: wall-clock milliseconds since 1970 (registration and start times); `monotonic`: milliseconds
    /// that never step back (intervals, deadlines, silence), by default the wall clock.
    /// `maxMessageSize`: the largest message a client may publish (the DXL broker's 1 MiB in tiesim's
    /// fabrics); mosquitto's own limit is set above it, so that what the broker adds to a message (its
    /// stamp, notes) never makes a packet the next broker refuses.
    public init(layout: BrokerLayout, clock: @escaping () -> Int64, monotonic: (() -> Int64)? = nil, maxMessageSize: Int = BrokerCore.defaultMaxMessageSize) {
        self.layout = layout
        self.maxMessageSize = maxMessageSize
        self.clock = clock
        self.monotonic = monotonic ?? clock
        session = clock()
        startTime = session / 1000
        encodedGuid = DXLHeader.encodedString(layout.me.guid)
    }

    /// This broker's GUID as a msgpack string.
    let encodedGuid: [UInt8]
    /// The last publisher's encoded id (a stream of events mostly comes from one client). The encoding
    /// depends on the id alone, so nothing makes it stale.
    @exclusivity(unchecked) var lastPublisher: (id: String, encoded: [UInt8]) = ("", DXLHeader.encodedString(""))

    func encodedId(of clientId: String) -> [UInt8] {
        if lastPublisher.id == clientId { return lastPublisher.encoded }
        lastPublisher = (clientId, clients.encodedId(of: clientId))
        return lastPublisher.encoded
    }

    /// Whether the last calls asked for any action.
    public var hasActions: Bool { !actions.isEmpty }

    /// The actions the last calls asked for, in order; the caller carries them out.
    public func takeActions() -> [BrokerAction] {
        defer { actions.removeAll(keepingCapacity: true) }
        return actions
    }

    var me: String { layout.me.guid }

    /// Clients whose id looks like a bridge's but whose certificate is not the bridges' (ordinary clients).
    @exclusivity(unchecked) var impostors: Set<String> = []

    /// Whether `clientId` is one of the fabric's bridges (its id, and, for a connection this broker
    /// accepted, the bridges' certificate).
    func isBridge(_ clientId: String) -> Bool {
        layout.isBridge(clientId) && (impostors.isEmpty || !impostors.contains(clientId))
    }

    /// Whether `clientId` is an observer (`tiesim record`): its id, and a certificate that may control
    /// the fabric — seeing every request is a control-plane privilege.
    func isObserver(_ clientId: String) -> Bool {
        clientId.hasPrefix(layout.observerPrefix)
            && layout.authorization.maySend(clients.identity(of: clientId) ?? "", on: "/tiesim/control/record")
    }

    // MARK: Connections and subscriptions

    /// A client connected with certificate identity `identity` over connection `connection`;
    /// `persistent`: without a clean session (it resumes the subscriptions of its earlier session).
    public func connected(_ clientId: String, identity: String, connection: UInt, persistent: Bool = false) {
        finalizeRoute()
        if layout.isBridge(clientId) {
            if identity == BrokerLayout.bridgeIdentity {
                impostors.remove(clientId)
                // The bridge takes its id back from an ordinary client that held it (mosquitto closes that
                // connection; its disconnect then finds a bridge's id and is not the client's any more).
                if let impostor = clients.clients[clientId] {
                    forget(clientId, connection: impostor.connection, reason: "taken over by the bridge")
                }
                // Bridges connect with a clean session: mosquitto drops a persistent session the id had.
                clients.discardSession(clientId)
                return
            }
            impostors.insert(clientId)
        }
        let now = clock()
        if let previous = clients.connect(id: clientId, identity: identity, connection: connection, at: now / 1000, persistent: persistent) {
            dropServices(of: previous.id, reason: "taken over by a new connection")
        }
        publishEvent(BrokerServiceTopic.connectEvent, .object(["clientGuid": .string(clientId)]))
        actions.append(.log("tiesim-broker: \(clientId) connected as '\(identity)'"))
        announceDue = true
        if persistent { answerHeldQueries() }
    }

    /// Connection `connection` of `clientId` closed.
    public func disconnected(_ clientId: String, connection: UInt) {
        finalizeRoute()
        guard !isBridge(clientId) else { return }
        forget(clientId, connection: connection, reason: "its client disconnected")
    }

    /// Connection `connection` of `clientId` is gone (unless the id belongs to a newer one now): its
    /// services go, and the fabric hears of it.
    private func forget(_ clientId: String, connection: UInt, reason: String) {
        guard clients.disconnect(id: clientId, connection: connection) != nil else { return }
        impostors.remove(clientId)
        dropServices(of: clientId, reason: reason)
        publishEvent(BrokerServiceTopic.disconnectEvent, .object(["clientGuid": .string(clientId)]))
        announceDue = true
    }

    /// `clientId` subscribes to `filter` (always allowed: DXL authorises receiving per message).
    public func subscribed(_ clientId: String, to filter: String) {
        guard !isBridge(clientId) else {
            announceDue = true  // a bridge (re)connected: the broker on its far side learns this one's state
            return
        }
        clients.subscribe(clientId, filter)
        announceDue = true
        answerHeldQueries()
    }

    public func unsubscribed(_ clientId: String, from filter: String) {
        guard !isBridge(clientId) else { return }
        clients.unsubscribe(clientId, filter)
        announceDue = true
    }

    // MARK: Authorisation

    /// What replaces the payload of a message that is not delivered: 0xc1 is never used in msgpack, so
    /// no DXL message starts with it.
    public static let droppedMarker: [UInt8] = [0xc1] + Array("tiesim: not delivered".utf8)

    /// Whether `buffer` is a dropped message.
    @inline(__always)
    static func isDropped(_ buffer: UnsafeRawBufferPointer) -> Bool {
        buffer.count == droppedMarker.count && buffer.first == 0xc1 && buffer.elementsEqual(droppedMarker)
    }

    /// Whether `clientId` may publish on `topic` (checked as its message arrives: a message it may not
    /// send is dropped).
    public func mayWrite(_ clientId: String, topic: String) -> Bool {
        if isBridge(clientId) { return true }
        if topic.hasPrefix(Topic.notesPrefix) { return false }
        let identity = clients.identity(of: clientId) ?? ""
        guard layout.authorization.maySend(identity, on: topic) else {
            if note("denied-send", topic: topic, fields: ["client": clientId, "identity": identity]) {
                actions.append(.log("tiesim-broker: \(clientId) (\(identity)) may not send on \(topic): dropped"))
            }
            return false
        }
        return true
    }

    /// Whether `clientId` receives the message `buffer` published on `topic`.
    public func mayRead(_ clientId: String, topic: String, payload buffer: UnsafeRawBufferPointer) -> Bool {
        mayRead(clientId, topic: TopicName(topic), payload: buffer)
    }

    /// Whether `clientId` receives the message `buffer` published on `topic` (called for every recipient
    /// of every message: nothing is decoded or copied unless a rule or a request needs it).
    public func mayRead(_ clientId: String, topic: TopicName, payload buffer: UnsafeRawBufferPointer) -> Bool {
        if Self.isDropped(buffer) { return false }
        let quickType = DXLHeader.quickType(buffer)
        if isBridge(clientId) {
            guard quickType == .request, let bridged = layout.bridgedBroker(clientId) else { return true }
            return routeAllowsBridge(to: bridged, buffer)
        }
        if topic.hasPrefix(Topic.notesPrefixStatic) { return clients.identity(of: clientId) == layout.internalIdentity }
        if !layout.authorization.receive.isEmpty {
            let identity = clients.identity(of: clientId) ?? ""
            let name = topic.string
            if !layout.authorization.mayReceive(identity, on: name) {
                if note("denied-receive", topic: name, fields: ["client": clientId, "identity": identity]) {
                    actions.append(.log("tiesim-broker: \(clientId) (\(identity)) may not receive on \(name): skipped"))
                }
                return false
            }
        }
        guard quickType == .request else {
            counted.outgoing += 1
            return true
        }
        let allowed = routeAllowsClient(clientId, buffer)
        if allowed { counted.outgoing += 1 }
        return allowed
    }

}

/// What another broker last announced.
struct RemoteBroker {
    struct Client {
        var id: String
        var identity: String
        var filters: [String]
    }

    var heardAt: Int64
    var clients: [Client]
    /// The ports it listens on (MQTT over TLS, WebSockets) and when it started, as it said.
    var port: Int = 0
    var webSocketPort: Int = 0
    var startTime: Int64 = 0
    var session: Int64 = 0
}

/// A question of tiesim's, waiting until it can be answered.
struct HeldQuery {
    enum Kind {
        /// Who (other than `ignored` identities) subscribed to something that receives `topic`.
        case subscribers(topic: String, ignored: Set<String>)
        /// Whether these brokers (by index) were heard in these sessions or later.
        case fabric(expected: [Int: Int64])
    }

    var request: DXLMessage
    var kind: Kind
    var deadline: Int64
    var requesterIsLocal: Bool
}
