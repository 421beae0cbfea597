import DXLWire

/// Who is connected to one broker and what each client subscribed to, learnt from the broker's
/// subscribe and unsubscribe checks and its disconnects. Bridges are kept apart: they subscribe to
/// everything and are not subscribers in DXL's sense. Not thread-safe: the broker's one thread.
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
    }

    public private(set) var clients: [String: Client] = [:]
    /// The most filters one client may hold here (more are still subscribed in mosquitto, not counted).
    public let filterLimit: Int

    public init(filterLimit: Int = 10_000) {
        self.filterLimit = filterLimit
    }

    /// Records a connection; returns the client it replaces, if any.
    @discardableResult
    public mutating func connect(id: String, identity: String, connection: UInt, at time: Int64) -> Client? {
        let previous = clients[id]
        clients[id] = Client(id: id, identity: identity, connection: connection, connectedAt: time, encodedId: DXLHeader.encodedString(id))
        return previous
    }

    /// Forgets connection `connection` of `id`; nil when `id` now belongs to a newer connection.
    public mutating func disconnect(id: String, connection: UInt) -> Client? {
        guard let client = clients[id], client.connection == connection else { return nil }
        clients[id] = nil
        return client
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

    /// The clients with a subscription that receives `topic`, bridges excluded by `isBridge`.
    public func subscribers(of topic: String, excluding isExcluded: (Client) -> Bool) -> [Client] {
        clients.values.filter { client in !isExcluded(client) && client.filters.contains { MQTTTopic.matches(filter: $0, topic: topic) } }
    }

}
