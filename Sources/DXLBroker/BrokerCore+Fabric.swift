import DXLWire

// The fabric-wide state: what each broker announces to the others over the bridges.
extension BrokerCore {
    // MARK: Fabric-wide state

    /// Sends this broker's services, clients and subscriptions to the other brokers.
    func announce(now: Int64) {
        announceDue = false
        lastAnnounce = now
        guard layout.brokers.count > 1 else { return }
        let services = registry.all.filter { $0.brokerGuid == me }.prefix(Self.announcedLimit).map { $0.json(local: nil) }
        let listed = clients.clients.values.sorted { $0.id < $1.id }.prefix(Self.announcedLimit).map { client -> JSONValue in
            .object(["id": .string(client.id), "identity": .string(client.identity),
                     "filters": .array(client.filters.sorted().prefix(Self.announcedLimit).map { .string($0) })])
        }
        var body = JSONValue.object(["broker": .string(me), "hostname": .string(layout.me.hostname), "port": .int(Int64(layout.me.port)),
                                     "webSocketPort": .int(Int64(layout.me.webSocketPort)),
                                     "startTime": .int(startTime), "session": .int(session), "services": .array(Array(services)), "clients": .array(Array(listed))])
        var bytes = body.serializedBytes()
        if bytes.count > Self.announcementBytes {
            // Too many subscriptions to list: the services and sessions still go (routing needs them).
            body["clients"] = .array(listed.map { client in .object(["id": client["id"] ?? .null, "identity": client["identity"] ?? .null, "filters": .array([])]) })
            bytes = body.serializedBytes()
            if bytes.count > Self.announcementBytes { body["clients"] = .array([]); bytes = body.serializedBytes() }
            actions.append(.log("tiesim-broker: the announcement to the other brokers leaves subscriptions out (over \(Self.announcementBytes) bytes)"))
        }
        var event = DXLMessage.event(topic: Topic.announce, payload: bytes)
        event.sourceBrokerId = me
        event.sourceClientId = me
        actions.append(.publish(topic: Topic.announce, payload: DXLMessageCodec.encode(event), client: nil))
    }

    /// The most services, clients and filters per client one announcement lists (keeps it well under the
    /// 1 MiB message limit).
    public static let announcedLimit = 1_000
    /// The most bytes an announcement's body has (well under the 1 MiB message limit).
    public static let announcementBytes = 512 << 10

    func receiveAnnouncement(_ buffer: UnsafeRawBufferPointer) {
        guard let event = try? DXLMessageCodec.decode(buffer), let body = Self.json(event.payload),
              let guid = body["broker"]?.stringValue, guid != me, let index = layout.index(of: guid) else { return }
        let now = monotonic()
        var listed: [RemoteBroker.Client] = []
        for entry in body["clients"]?.arrayValue ?? [] {
            guard let id = entry["id"]?.stringValue else { continue }
            listed.append(RemoteBroker.Client(id: id, identity: entry["identity"]?.stringValue ?? "",
                                              filters: entry["filters"]?.arrayValue?.compactMap(\.stringValue) ?? []))
        }
        let heardSession = body["session"]?.intValue ?? 0
        // A broker heard for the first time, or restarted, learns this one's state at once.
        if remote[index]?.session != heardSession { announceDue = true }
        remote[index] = RemoteBroker(heardAt: now, clients: listed, port: Int(body["port"]?.intValue ?? 0),
                                     webSocketPort: Int(body["webSocketPort"]?.intValue ?? 0), startTime: body["startTime"]?.intValue ?? 0,
                                     session: heardSession)
        var announced = Set<String>()
        for entry in body["services"]?.arrayValue ?? [] {
            guard let record = ServiceRecord(json: entry, clientId: entry["clientGuid"]?.stringValue ?? "", brokerGuid: guid, now: clock() / 1000) else { continue }
            announced.insert(record.serviceGuid)
            // A service registered here (its client failed over to this broker) is not taken back by
            // the broker it left.
            if let local = registry.services[record.serviceGuid], local.brokerGuid == me { continue }
            registry.add(record)
        }
        _ = registry.removeAll { $0.brokerGuid == guid && !announced.contains($0.serviceGuid) }
        answerHeldQueries()
    }

    /// The clients other than bridges, here and on the other brokers.
    func fabricClients() -> [(id: String, identity: String, filters: [String], broker: String)] {
        var result = clients.clients.values.map { ($0.id, $0.identity, Array($0.filters), me) }
        for (index, state) in remote {
            result += state.clients.map { ($0.id, $0.identity, $0.filters, layout.brokers[index].guid) }
        }
        return result
    }
}
