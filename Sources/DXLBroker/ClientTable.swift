import DXLWire

/// Who is connected to one broker and what each client subscribed to, learnt from the broker's
/// subscribe and unsubscribe checks and its disconnects. Bridges are kept apart: they subscribe to
/// everything and are not subscribers in DXL's sense. A client with a persistent session (clean session
/// off) keeps its subscriptions in mosquitto while it is away, and gets them back when it reconnects
/// without a clean session — without subscribing again, so without a subscribe check: the table keeps
/// them too. Not thread-safe: the broker's one thread.
public struct ClientTable: Sendable {
    /// One connected client.
    public struct Client: Sendable, Equatable {
        public var id: String
        /// The certificate's common name ("" when there is none).
        public var identity: String
        /// The connection, to tell a client from the one that took its id over.
        public var connection: UInt
        /// Seconds since 1970.
        public var connectedAt: Int64
        public var filters: Set<String> = []
        /// The id as a msgpack string, as the broker stamps it on what the client publishes.
        public var encodedId: [UInt8] = []
        /// Whether its session outlives the connection (it connected with clean session off).
        public var persistent = false
    }

    public private(set) var clients: [String: Client] = [:]
    /// The subscriptions of persistent sessions whose clients are away, by client id.
    public private(set) var awaySessions: [String: Set<String>] = [:]
    /// The most filters one client may hold here (more are still subscribed in mosquitto, not counted).
    public let filterLimit: Int
    /// The most persistent sessions kept while their clients are away (mosquitto keeps them all; beyond
    /// this a returning client's old subscriptions are not known until it subscribes again).
    public static let awaySessionLimit = 100_000

    public init(filterLimit: Int = 10_000) {
        self.filterLimit = filterLimit
    }

    /// Records a connection; returns the client it replaces, if any. A persistent connection resumes
    /// the subscriptions of the persistent session it continues (as mosquitto does), whether that
    /// session's client is away or is the connection being replaced; a clean one starts empty.
    @discardableResult
    public mutating func connect(id: String, identity: String, connection: UInt, at time: Int64, persistent: Bool = false) -> Client? {
        let previous = clients[id]
        let away = awaySessions.removeValue(forKey: id)
        var client = Client(id: id, identity: identity, connection: connection, connectedAt: time, encodedId: DXLHeader.encodedString(id), persistent: persistent)
        if persistent {
            // `away` is there only when no connection of `id` was: the two sources never compete.
            client.filters = previous.map { $0.persistent ? $0.filters : [] } ?? away ?? []
        }
        clients[id] = client
        return previous
    }

    /// Forgets connection `connection` of `id`; nil when `id` now belongs to a newer connection. A
    /// persistent client's subscriptions are kept until it returns.
    public mutating func disconnect(id: String, connection: UInt) -> Client? {
        guard let client = clients[id], client.connection == connection else { return nil }
        clients[id] = nil
        if client.persistent && !client.filters.isEmpty && awaySessions.count < Self.awaySessionLimit {
            awaySessions[id] = client.filters
        }
        return client
    }

    /// Forgets the persistent session of `id` kept while its client is away (mosquitto cleaned it: a
    /// clean-session connection took the id).
    public mutating func discardSession(_ id: String) {
        awaySessions[id] = nil
    }

    public mutating func subscribe(_ id: String, _ filter: String) {
        guard clients[id] != nil, clients[id]!.filters.count < filterLimit else { return }
        clients[id]!.filters.insert(filter)
    }

    public mutating func unsubscribe(_ id: String, _ filter: String) {
        clients[id]?.filters.remove(filter)
    }

    public func identity(of id: String) -> String? { clients[id]?.identity }

    /// The id as a msgpack string (made now for a client not in the table).
    public func encodedId(of id: String) -> [UInt8] { clients[id]?.encodedId ?? DXLHeader.encodedString(id) }

    public func isConnected(_ id: String) -> Bool { clients[id] != nil }

    /// The clients with a subscription that receives `topic` (bridges are never in the table).
    public func subscribers(of topic: String) -> [Client] {
        clients.values.filter { client in client.filters.contains { MQTTTopic.matches(filter: $0, topic: topic) } }
    }
}
