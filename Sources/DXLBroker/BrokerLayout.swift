import DXLWire

/// What one broker knows of the fabric it belongs to, read from the JSON file tiesim writes beside each
/// `mosquitto.conf` (`plugin_opt_fabric`): every broker (GUID, address, which broker it bridges to), which
/// one it is, how bridges and tiesim's own clients are recognised, and the topic authorisation policy.
///
/// The brokers form a tree: each broker but the first bridges to its `parent`. A plain value.
public struct BrokerLayout: Sendable, Equatable {
    /// One broker of the fabric.
    public struct Broker: Sendable, Equatable {
        public var guid: String
        public var hostname: String
        public var port: Int
        /// The 0-based index of the broker this one bridges to; nil for the root.
        public var parent: Int?
        /// The port of its WebSocket listener (0: none, or not known here).
        public var webSocketPort: Int
        public init(guid: String, hostname: String, port: Int, parent: Int? = nil, webSocketPort: Int = 0) {
            self.guid = guid
            self.hostname = hostname
            self.port = port
            self.parent = parent
            self.webSocketPort = webSocketPort
        }
    }

    public var brokers: [Broker]
    /// Which of `brokers` this one is (0-based).
    public var index: Int
    /// What the MQTT client ids of bridges start with; a bridge's id is `<prefix><from>-to-<to>` (1-based
    /// broker numbers), with `.local` appended on the bridging broker's own side.
    public var bridgePrefix: String
    /// The certificate identity (common name) of tiesim's own clients: they may read the broker's notes
    /// and their requests are journaled by tiesim itself.
    public var internalIdentity: String
    /// Topic authorisation.
    public var authorization: TopicAuthorization
    /// The certificate identity of the bridges (the broker certificate's common name): a client whose id
    /// looks like a bridge's but whose certificate is another is an ordinary client.
    public static let bridgeIdentity = "tiesim-broker"
    /// What the MQTT client ids of observers start with: clients that see every request on the topics
    /// they subscribe to besides the service it is routed to (`tiesim record`). Not a DXL notion.
    public var observerPrefix = "tiesim-recorder-"

    public init(brokers: [Broker], index: Int = 0, bridgePrefix: String = "tiesim-bridge-", internalIdentity: String = "tiesim",
                authorization: TopicAuthorization = TopicAuthorization()) {
        self.brokers = brokers
        self.index = index
        self.bridgePrefix = bridgePrefix
        self.internalIdentity = internalIdentity
        self.authorization = authorization
    }

    /// This broker.
    public var me: Broker { brokers[index] }

    /// The index of the broker with `guid`.
    public func index(of guid: String) -> Int? { brokers.firstIndex { $0.guid == guid } }

    /// Whether broker `target` is `root` or below it in the bridge tree.
    public func isInSubtree(_ target: Int, of root: Int) -> Bool {
        var current: Int? = target
        var steps = 0
        while let node = current, steps <= brokers.count {
            if node == root { return true }
            current = brokers[node].parent
            steps += 1
        }
        return false
    }

    /// Whether `clientId` is a bridge between two brokers of the fabric (asked for every message and
    /// recipient: a byte comparison, not `String.hasPrefix`'s Unicode-aware one, and most ids differ in
    /// their first byte).
    public func isBridge(_ clientId: String) -> Bool {
        clientId.utf8.first == bridgePrefix.utf8.first && clientId.utf8.starts(with: bridgePrefix.utf8)
    }

    /// The broker (0-based) on the far side of the bridge client `clientId` as this broker sees it: the
    /// remote end of an incoming bridge (`<prefix><from>-to-<me>`); nil for other clients.
    public func bridgedBroker(_ clientId: String) -> Int? {
        guard clientId.hasPrefix(bridgePrefix), !clientId.hasSuffix(".local") else { return nil }
        let parts = clientId.dropFirst(bridgePrefix.count).split(separator: "-")
        guard parts.count == 3, parts[1] == "to", let from = Int(parts[0]), from >= 1, from <= brokers.count else { return nil }
        return from - 1
    }

    // MARK: JSON

    /// Why a layout file could not be read.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Reads the layout from its JSON form.
    public init(json: JSONValue) throws(Invalid) {
        guard let list = json["brokers"]?.arrayValue, !list.isEmpty else { throw Invalid(description: "'brokers' must list at least one broker") }
        var brokers: [Broker] = []
        for entry in list {
            guard let guid = entry["guid"]?.stringValue, let host = entry["hostname"]?.stringValue, let port = entry["port"]?.intValue else {
                throw Invalid(description: "each broker needs guid, hostname and port")
            }
            let parent = entry["parent"]?.intValue.map(Int.init)
            if let parent, parent < 0 || parent >= list.count { throw Invalid(description: "broker \(guid): parent \(parent) is not a broker") }
            brokers.append(Broker(guid: guid, hostname: host, port: Int(port), parent: parent, webSocketPort: Int(entry["webSocketPort"]?.intValue ?? 0)))
        }
        let index = Int(json["index"]?.intValue ?? 0)
        guard brokers.indices.contains(index) else { throw Invalid(description: "index \(index) is not a broker") }
        self.init(brokers: brokers, index: index, bridgePrefix: json["bridgePrefix"]?.stringValue ?? "tiesim-bridge-",
                  internalIdentity: json["internalIdentity"]?.stringValue ?? "tiesim",
                  authorization: try TopicAuthorization(json: json["authorization"] ?? .null))
    }

    /// The JSON form.
    public var json: JSONValue {
        .object([
            "brokers": .array(brokers.map { broker in
                var entry: JSONObject = ["guid": .string(broker.guid), "hostname": .string(broker.hostname), "port": .int(Int64(broker.port))]
                if let parent = broker.parent { entry["parent"] = .int(Int64(parent)) }
                if broker.webSocketPort > 0 { entry["webSocketPort"] = .int(Int64(broker.webSocketPort)) }
                return .object(entry)
            }),
            "index": .int(Int64(index)), "bridgePrefix": .string(bridgePrefix), "internalIdentity": .string(internalIdentity),
            "authorization": authorization.json,
        ])
    }
}
