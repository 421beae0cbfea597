import DXLWire

/// Topic authorisation as the DXL broker's policy has it: for listed topics, only the listed client
/// identities (certificate common names) may send, or receive; topics no rule names are open to all.
/// Rule topics are DXL topics: a trailing `#` covers everything below it. Bridges always pass.
public struct TopicAuthorization: Sendable, Equatable {
    /// One rule: who may use `topic`.
    public struct Rule: Sendable, Equatable {
        public var topic: String
        public var clients: Set<String>
        public init(topic: String, clients: Set<String>) {
            self.topic = topic
            self.clients = clients
        }
    }

    public var send: [Rule]
    public var receive: [Rule]

    public init(send: [Rule] = [], receive: [Rule] = []) {
        self.send = send
        self.receive = receive
    }

    /// Whether no rule restricts anything.
    public var isEmpty: Bool { send.isEmpty && receive.isEmpty }

    /// Whether `identity` may send on `topic`.
    public func maySend(_ identity: String, on topic: String) -> Bool { Self.allows(send, identity, topic) }

    /// Whether `identity` may receive what is sent on `topic`.
    public func mayReceive(_ identity: String, on topic: String) -> Bool { Self.allows(receive, identity, topic) }

    static func allows(_ rules: [Rule], _ identity: String, _ topic: String) -> Bool {
        var restricted = false
        for rule in rules where DXLTopic.matches(filter: rule.topic, topic: topic) {
            if rule.clients.contains(identity) { return true }
            restricted = true
        }
        return !restricted
    }

    /// Reads `{"send": [{"topic": …, "clients": […]}], "receive": […]}` (null: no rules).
    public init(json: JSONValue) throws(BrokerLayout.Invalid) {
        func rules(_ key: String) throws(BrokerLayout.Invalid) -> [Rule] {
            guard let list = json[key] else { return [] }
            guard let entries = list.arrayValue else { throw BrokerLayout.Invalid(description: "authorization.\(key) must be a list") }
            var result: [Rule] = []
            for entry in entries {
                guard let topic = entry["topic"]?.stringValue, !topic.isEmpty, let clients = entry["clients"]?.arrayValue?.compactMap(\.stringValue) else {
                    throw BrokerLayout.Invalid(description: "each authorization.\(key) rule needs a topic and a list of clients")
                }
                result.append(Rule(topic: topic, clients: Set(clients)))
            }
            return result
        }
        if json == .null { self.init(); return }
        self.init(send: try rules("send"), receive: try rules("receive"))
    }

    public var json: JSONValue {
        func list(_ rules: [Rule]) -> JSONValue {
            .array(rules.map { .object(["topic": .string($0.topic), "clients": .array($0.clients.sorted().map { .string($0) })]) })
        }
        return .object(["send": list(send), "receive": list(receive)])
    }
}
