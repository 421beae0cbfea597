// What a caller may decide without the core for the messages a broker sees most (the plugin's C fast
// path): an event or a response from a client that is not a bridge, on a topic it may send on, and its
// recipients that are not bridges, when no route is pending and no rule on receiving applies. The caller
// asks again after every call into the core, and hands back what it counted.
extension BrokerCore {
    /// The conditions under which the shortcut must leave messages and checks to the core.
    public struct ShortcutConditions: Sendable {
        /// A routed request is being handed to its recipients (finished with the next message or tick).
        public var routePending: Bool
        /// Topic authorization rules on sending (the shortcut then only takes the topic `shortcutMaySend`
        /// allowed), on receiving.
        public var sendRules: Bool
        public var receiveRules: Bool
        /// Some client that is no bridge has a bridge's id.
        public var impostors: Bool
        /// The next `tick()` has something to do however soon it comes (an announcement held back).
        public var tickDue: Bool
    }

    public var shortcutConditions: ShortcutConditions {
        ShortcutConditions(routePending: route != nil, sendRules: !layout.authorization.send.isEmpty,
                           receiveRules: !layout.authorization.receive.isEmpty, impostors: !impostors.isEmpty, tickDue: announceDue)
    }

    /// The bytes `message(from: clientId, …)` puts in place of an event's source ids: `clientId` then this
    /// broker's GUID, encoded. Nil for a bridge's id, whose messages the core always takes.
    public func shortcutStamp(for clientId: String) -> [UInt8]? {
        guard !layout.isBridge(clientId) else { return nil }
        return encodedId(of: clientId) + encodedGuid
    }

    /// Whether `clientId`'s messages on `topic` pass the checks on sending (rules, the broker's own topics),
    /// as `message(from:…)` finds, without noting anything.
    public func shortcutMaySend(_ clientId: String, topic: String) -> Bool {
        if isBridge(clientId) || topic.hasPrefix(Topic.notesPrefix) { return false }
        return layout.authorization.send.isEmpty || layout.authorization.maySend(clients.identity(of: clientId) ?? "", on: topic)
    }

    /// Messages taken in and deliveries allowed by the shortcut, counted with the core's own.
    public func addShortcutCounts(incoming: Int, outgoing: Int) {
        counted.incoming += incoming
        counted.outgoing += outgoing
    }
}
