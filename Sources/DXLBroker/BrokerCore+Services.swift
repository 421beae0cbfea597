import DXLWire

// The broker's own services (registry queries, broker registry, subs, health, client registry), held queries, and the replies, events and notes it sends.
extension BrokerCore {
    // MARK: Broker services

    func answerBrokerService(_ request: DXLMessage, requesterIsLocal: Bool) {
        let body = Self.json(request.payload)
        switch request.destinationTopic {
        case ServiceRegistryTopic.register:
            register(request, requesterIsLocal: requesterIsLocal)
        case ServiceRegistryTopic.unregister:
            unregisterRequest(request, requesterIsLocal: requesterIsLocal)
        case ServiceRegistryTopic.query:
            let guid = body?["serviceGuid"]?.stringValue ?? ""
            let type = body?["serviceType"]?.stringValue ?? ""
            var services: JSONObject = [:]
            for record in registry.all where guid.isEmpty ? (type.isEmpty || record.serviceType == type) : record.serviceGuid == guid {
                services[record.serviceGuid] = record.json(local: record.brokerGuid == me)
            }
            reply(to: request, json: .object(["services": .object(services)]), requesterIsLocal: requesterIsLocal)
        case BrokerServiceTopic.brokerQuery:
            let guid = body?["brokerGuid"]?.stringValue ?? ""
            var brokers: JSONObject = [:]
            for (index, broker) in layout.brokers.enumerated() where guid.isEmpty || broker.guid == guid {
                brokers[broker.guid] = brokerState(index)
            }
            reply(to: request, json: .object(["brokers": .object(brokers)]), requesterIsLocal: requesterIsLocal)
        case BrokerServiceTopic.topicQuery:
            let guid = body?["brokerGuid"]?.stringValue ?? me
            let asked = body?["topics"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let known = Set(fabricClients().filter { $0.broker == guid }.flatMap(\.filters).filter { !$0.hasPrefix(Topic.replyPrefix) })
            reply(to: request, json: .object(["count": .int(Int64(known.count)), "exists": .bool(asked.allSatisfy(known.contains))]),
                  requesterIsLocal: requesterIsLocal)
        case BrokerServiceTopic.subs:
            guard let topic = body?["topic"]?.stringValue, !topic.isEmpty else {
                reply(to: request, error: 0, "broker/subs needs a JSON body with a topic", requesterIsLocal: requesterIsLocal)
                return
            }
            let count = clients.subscribers(of: topic).count
            reply(to: request, json: .object(["count": .int(Int64(count))]), requesterIsLocal: requesterIsLocal)
        case BrokerServiceTopic.health:
            reply(to: request, json: .object([
                "connectedClients": .int(Int64(clients.clients.count)), "incomingMessages": .double(rates.incoming),
                "outgoingMessages": .double(rates.outgoing), "localServiceCounter": .int(Int64(registry.all.filter { $0.brokerGuid == me }.count)),
                "startTime": .int(startTime),
            ]), requesterIsLocal: requesterIsLocal)
        case BrokerServiceTopic.clientQuery:
            let guid = body?["clientGuid"]?.stringValue ?? ""
            if !guid.isEmpty, fabricClients().contains(where: { $0.id == guid }) {
                reply(to: request, json: .object([:]), requesterIsLocal: requesterIsLocal)
            } else {
                noDestination(request, serviceId: "", requesterIsLocal: requesterIsLocal)
            }
        case Topic.subscribers:
            guard let topic = body?["topic"]?.stringValue, !topic.isEmpty else {
                reply(to: request, error: 0, "a subscribers query needs a JSON body with a topic", requesterIsLocal: requesterIsLocal)
                return
            }
            hold(HeldQuery(request: request, kind: .subscribers(topic: topic, ignored: Set(body?["ignoreIdentities"]?.arrayValue?.compactMap(\.stringValue) ?? [])),
                           deadline: deadline(body), requesterIsLocal: requesterIsLocal))
        case Topic.fabric:
            var expected: [Int: Int64] = [:]
            for (guid, session) in body?["expect"]?.objectValue ?? [:] {
                if let index = layout.index(of: guid), index != layout.index { expected[index] = session.intValue ?? 0 }
            }
            hold(HeldQuery(request: request, kind: .fabric(expected: expected), deadline: deadline(body), requesterIsLocal: requesterIsLocal))
        default:
            noDestination(request, serviceId: "", requesterIsLocal: requesterIsLocal)
        }
    }

    /// When a held query whose body asks to wait `waitMs` (at most ten minutes) is answered anyway.
    func deadline(_ body: JSONValue?) -> Int64 {
        monotonic() + min(max(body?["waitMs"]?.intValue ?? 0, 0), 600_000)
    }

    /// The most subscriber queries waiting at once (the oldest is answered when more come).
    public static let heldLimit = 256

    func brokerState(_ index: Int) -> JSONValue {
        var broker = layout.brokers[index]
        if let heard = remote[index] {
            if heard.port > 0 { broker.port = heard.port }
            if heard.webSocketPort > 0 { broker.webSocketPort = heard.webSocketPort }
        }
        let children = layout.brokers.indices.filter { layout.brokers[$0].parent == index }.map { JSONValue.string(layout.brokers[$0].guid) }
        let parent = broker.parent.map { [JSONValue.string(layout.brokers[$0].guid)] } ?? []
        return .object([
            "guid": .string(broker.guid), "hostname": .string(broker.hostname), "port": .int(Int64(broker.port)), "webSocketPort": .int(Int64(broker.webSocketPort)),
            "ttlMins": .int(60), "version": .string("tiesim"), "startTime": .int(index == layout.index ? startTime : remote[index]?.startTime ?? 0),
            "policyHostname": .string(""), "policyIpAddress": .string(""), "policyHub": .string(""), "policyPort": .int(0),
            "connectionLimit": .int(0), "topicRouting": false, "bridges": .array(parent + children), "bridgeChildren": .array(children),
        ])
    }

    /// Answers `query` now if it can be (or its time is up), else keeps it until it can.
    func hold(_ query: HeldQuery) {
        guard !answer(query, evenIfUnmet: query.deadline <= monotonic()) else { return }
        if held.count >= Self.heldLimit { _ = answer(held.removeFirst(), evenIfUnmet: true) }
        held.append(query)
    }

    func answerHeldQueries() {
        guard !held.isEmpty else { return }
        held.removeAll { answer($0, evenIfUnmet: false) }
    }

    func expireHeldQueries(now: Int64) {
        held.removeAll { $0.deadline <= now && answer($0, evenIfUnmet: true) }
    }

    /// Answers a query once what it waits for is there (or `evenIfUnmet`); whether it answered.
    func answer(_ query: HeldQuery, evenIfUnmet: Bool) -> Bool {
        switch query.kind {
        case .subscribers(let topic, let ignored):
            let found = fabricClients().filter { client in
                !ignored.contains(client.identity) && client.filters.contains { MQTTTopic.matches(filter: $0, topic: topic) }
            }
            guard !found.isEmpty || evenIfUnmet else { return false }
            let list = found.sorted { $0.id < $1.id }.map { JSONValue.object(["clientId": .string($0.id), "identity": .string($0.identity), "broker": .string($0.broker)]) }
            reply(to: query.request, json: .object(["subscribers": .array(list)]), requesterIsLocal: query.requesterIsLocal)
        case .fabric(let expected):
            let complete = expected.allSatisfy { index, session in (remote[index]?.session ?? -1) >= session }
            guard complete || evenIfUnmet else { return false }
            var heard: JSONObject = [:]
            for (index, state) in remote { heard[layout.brokers[index].guid] = .int(state.session) }
            reply(to: query.request, json: .object([
                "me": .object(["guid": .string(me), "session": .int(session)]), "heard": .object(heard), "complete": .bool(complete),
            ]), requesterIsLocal: query.requesterIsLocal)
        }
        return true
    }

    // MARK: Replies, events, notes

    func reply(to request: DXLMessage, json: JSONValue?, requesterIsLocal: Bool) {
        var response = DXLMessage.response(to: request, payload: json.map { $0.serializedBytes() + [0x0a] } ?? [])
        send(&response, to: request, requesterIsLocal: requesterIsLocal)
    }

    func reply(to request: DXLMessage, error code: Int64, _ text: String, requesterIsLocal: Bool) {
        var response = DXLMessage.errorResponse(to: request, code: code, message: text)
        send(&response, to: request, requesterIsLocal: requesterIsLocal)
    }

    func noDestination(_ request: DXLMessage, serviceId: String, requesterIsLocal: Bool) {
        guard let replyTo = request.replyToTopic, Self.isPublishable(replyTo) else { return }
        var error = DXLMessage.errorResponse(to: request, code: DXLErrorCode.brokerWireForm(DXLErrorCode.serviceUnavailable),
                                             message: DXLErrorCode.serviceUnavailableMessage)
        error.serviceId = serviceId
        note("no-destination", topic: request.destinationTopic, fields: ["messageId": request.messageId, "source": request.sourceClientId, "service": serviceId])
        send(&error, to: request, requesterIsLocal: requesterIsLocal)
    }

    func send(_ message: inout DXLMessage, to request: DXLMessage, requesterIsLocal: Bool) {
        // A reply-to mosquitto would refuse from a client (wildcards, NUL, too long) is not published:
        // the next broker would drop its bridge over it.
        guard let replyTo = request.replyToTopic, Self.isPublishable(replyTo) else { return }
        message.messageId = String(message.messageId.dropFirst().dropLast())  // the broker's ids have no braces
        message.sourceClientId = me
        message.sourceBrokerId = me
        message.destinationTopic = replyTo
        actions.append(.publish(topic: replyTo, payload: DXLMessageCodec.encode(message), client: requesterIsLocal ? request.sourceClientId : nil))
    }

    func publishEvent(_ topic: String, _ body: JSONValue) {
        var event = DXLMessage.event(topic: topic, payload: body.serializedBytes() + [0x0a])
        event.sourceBrokerId = me
        event.sourceClientId = me
        actions.append(.publish(topic: topic, payload: DXLMessageCodec.encode(event), client: nil))
    }

    /// A note to tiesim's journal: an event on `Topic.journal` whose other fields say what happened and
    /// whose payload is the request's (for request notes).
    @discardableResult
    func note(_ kind: String, topic: String, fields: [String: String], payload: [UInt8] = []) -> Bool {
        let sent = notesThisSecond[kind, default: 0]
        guard sent < Self.notesPerSecond(kind) else {
            notesLeftOut += 1
            return false
        }
        notesThisSecond[kind] = sent + 1
        var event = DXLMessage.event(topic: Topic.journal, payload: payload)
        event.sourceBrokerId = me
        event.sourceClientId = me
        event.otherFields = [.init("kind", kind), .init("topic", topic)] + fields.sorted { $0.key < $1.key }.map { .init($0.key, $0.value) }
        if notesLeftOut > 0 {
            event.otherFields.append(.init("leftOut", String(notesLeftOut)))
            notesLeftOut = 0
        }
        actions.append(.publish(topic: Topic.journal, payload: DXLMessageCodec.encode(event), client: nil))
        return true
    }

    /// Whether `topic` is one a client may publish on (MQTT: not empty, no `+`, `#` or NUL, at most 65,535 bytes).
    static func isPublishable(_ topic: String) -> Bool {
        let bytes = topic.utf8
        return !bytes.isEmpty && bytes.count <= 65_535 && !bytes.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == 0 }
    }

    static func json(_ payload: [UInt8]) -> JSONValue? {
        var bytes = payload[...]
        while let last = bytes.last, last == 0 || last == 0x0a || last == 0x20 { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { return nil }
        return try? JSONValue.parse(Array(bytes))
    }
}
