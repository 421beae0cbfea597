import DXLWire

// Time (TTLs, stale brokers) and the service registry: register, unregister, reachability.
extension BrokerCore {
    // MARK: Time

    /// mosquitto's loop turned (at least ten times a second).
    public func tick() {
        finalizeRoute()
        let now = monotonic()
        if now - lastSecond >= 1_000 {
            let elapsed = Double(max(now - lastSecond, 1)) / 1000
            rates = (Double(counted.incoming) / elapsed, Double(counted.outgoing) / elapsed)
            counted = (0, 0)
            lastSecond = now
            notesThisSecond.removeAll(keepingCapacity: true)
            expireServices(now: clock() / 1000)
            expireRemoteBrokers(now: now)
            expireHeldQueries(now: now)
        }
        // At most every 200 ms however often something changes (a burst of subscriptions must not become
        // a burst of whole-state announcements), and every second regardless.
        if (announceDue && now - lastAnnounce >= 200) || now - lastAnnounce >= 1_000 {
            announce(now: now)
        }
    }

    func expireServices(now: Int64) {
        for record in registry.all where record.brokerGuid == me && record.expires <= now {
            unregister(record.serviceGuid, reason: "its TTL of \(record.ttlMinutes) min ran out")
        }
    }

    func expireRemoteBrokers(now: Int64) {
        for (index, state) in remote where now - state.heardAt > Self.silenceLimitMs {
            remote[index] = nil
            let guid = layout.brokers[index].guid
            _ = registry.removeAll { $0.brokerGuid == guid }
            actions.append(.log("tiesim-broker: broker \(guid) silent for \(Self.silenceLimitMs) ms: its services are forgotten"))
        }
    }

    // MARK: Registry

    /// The largest registration kept: with at most `ServiceRegistry.limit` services, the registry stays
    /// under 640 MB however it is fed (and a real one is a few hundred bytes).
    public static let registrationBytes = 64 << 10

    func register(_ request: DXLMessage, requesterIsLocal: Bool) {
        guard request.payload.count <= Self.registrationBytes else {
            reply(to: request, error: 0, "a registration of \(request.payload.count) bytes is over the registry's \(Self.registrationBytes >> 10) KiB limit",
                  requesterIsLocal: requesterIsLocal)
            return
        }
        let now = clock() / 1000
        guard let body = Self.json(request.payload),
              let record = ServiceRecord(json: body, clientId: request.sourceClientId, brokerGuid: request.sourceBrokerId.isEmpty ? me : request.sourceBrokerId, now: now) else {
            reply(to: request, error: 0, "a registration needs a JSON body with serviceGuid", requesterIsLocal: requesterIsLocal)
            return
        }
        var fresh = record
        fresh.registrationTime = now
        guard registry.add(fresh) else {
            reply(to: request, error: Int64(DXLErrorCode.brokerWireForm(DXLErrorCode.serviceLimitExceeded)),
                  "service limit exceeded (\(registry.limit) services)", requesterIsLocal: requesterIsLocal)
            return
        }
        actions.append(.log("tiesim-broker: registered service \(fresh.serviceType) \(fresh.serviceGuid) of \(fresh.clientId) on \(fresh.requestChannels)"))
        reply(to: request, json: nil, requesterIsLocal: requesterIsLocal)
        publishEvent(ServiceRegistryTopic.registerEvent, fresh.json(local: nil))
        announceDue = true
    }

    func unregisterRequest(_ request: DXLMessage, requesterIsLocal: Bool) {
        if let guid = Self.json(request.payload)?["serviceGuid"]?.stringValue, let service = registry.services[guid],
           service.clientId == request.sourceClientId || clients.identity(of: service.clientId) == clients.identity(of: request.sourceClientId) {
            unregister(guid, reason: "its client unregistered it")
        }
        reply(to: request, json: nil, requesterIsLocal: requesterIsLocal)
    }

    func unregister(_ guid: String, reason: String) {
        guard let removed = registry.remove(guid) else { return }
        actions.append(.log("tiesim-broker: unregistered service \(removed.serviceType) \(guid): \(reason)"))
        if removed.brokerGuid == me {
            publishEvent(ServiceRegistryTopic.unregisterEvent, .object(["serviceGuid": .string(guid)]))
            announceDue = true
        }
    }

    func dropServices(of clientId: String, reason: String) {
        for record in registry.all where record.clientId == clientId && record.brokerGuid == me {
            unregister(record.serviceGuid, reason: reason)
        }
    }

    func isReachable(_ service: ServiceRecord) -> Bool {
        if service.brokerGuid == me { return clients.isConnected(service.clientId) }
        return layout.index(of: service.brokerGuid) != nil
    }

    func ownerIdentity(of service: ServiceRecord) -> String? {
        if service.brokerGuid == me { return clients.identity(of: service.clientId) }
        guard let index = layout.index(of: service.brokerGuid) else { return nil }
        return remote[index]?.clients.first { $0.id == service.clientId }?.identity
    }
}
