import DXLWire

// Messages as they arrive: events stamped, requests routed to one service (or answered "no service"),
// what the bridges bring, and the route each request takes to its recipients.
extension BrokerCore {
    /// A message `clientId` published on `topic`.
    public func message(from clientId: String, topic: String, payload buffer: UnsafeRawBufferPointer) -> MessageVerdict {
        message(from: clientId, topic: TopicName(topic), payload: buffer)
    }

    /// A message `clientId` published on `topic` at `qos` (events and responses are stamped without being
    /// decoded). At QoS 2 mosquitto hands the message to its recipients later (at PUBREL), so whether a
    /// request reached its service is not checked then.
    public func message(from clientId: String, topic name: TopicName, payload buffer: UnsafeRawBufferPointer, qos: Int = 0) -> MessageVerdict {
        finalizeRoute()
        defer { if qos >= 2 { route?.checksDelivery = false } }
        counted.incoming += 1
        if isBridge(clientId) { return bridgedMessage(topic: name.string, buffer) }
        if buffer.count > maxMessageSize {
            // mosquitto accepts a little more than the DXL limit, so that stamps never push a message the
            // next broker must refuse over its limit: the limit itself is kept here.
            refuse(clientId, topic: name, buffer, why: "a message of \(buffer.count) bytes is over the fabric's \(maxMessageSize)-byte limit")
            return .drop
        }
        if !layout.authorization.send.isEmpty || name.hasPrefix(Topic.notesPrefixStatic) {
            guard mayWrite(clientId, topic: name.string) else {
                refuse(clientId, topic: name, buffer, why: "\(clients.identity(of: clientId) ?? clientId) may not send on \(name.string)")
                return .drop
            }
        }
        guard let fields = DXLHeader.scan(buffer) else { return .pass }  // not DXL: passed on untouched
        let client = encodedId(of: clientId)
        // A client that filled in what the broker stamps (tiesim's own do) keeps its bytes as they are.
        let stamp = DXLHeader.isStamped(buffer, range: fields.sourceIdsRange, clientId: client, brokerId: encodedGuid)
            ? MessageVerdict.pass : .restamp(range: fields.sourceIdsRange, clientId: client, brokerId: encodedGuid)
        switch fields.type {
        case .request:
            return request(from: clientId, topic: name.string, buffer)
        case .event, .response:
            return stamp
        case .errorResponse:
            let topic = name.string
            if let message = try? DXLMessageCodec.decode(buffer, topic: topic),
               message.normalizedErrorCode == DXLErrorCode.serviceUnavailable, !message.serviceId.isEmpty,
               let service = registry.services[message.serviceId], service.brokerGuid == me, service.clientId == clientId {
                // A client saying it has no such service: the service is gone, as the DXL broker concludes.
                unregister(service.serviceGuid, reason: "a client answered that it does not serve it")
            }
            return stamp
        }
    }

    /// A message that is not delivered: a request is answered at once with why, not left to time out.
    func refuse(_ clientId: String, topic name: TopicName, _ buffer: UnsafeRawBufferPointer, why: String) {
        guard DXLHeader.quickType(buffer) == .request, var request = try? DXLMessageCodec.decode(buffer, topic: name.string) else { return }
        request.sourceClientId = clientId
        request.sourceBrokerId = me
        request.payload = []
        reply(to: request, error: DXLErrorCode.brokerWireForm(DXLErrorCode.serviceUnavailable),
              "\(DXLErrorCode.serviceUnavailableMessage): \(why)", requesterIsLocal: true)
    }

    func request(from clientId: String, topic: String, _ buffer: UnsafeRawBufferPointer) -> MessageVerdict {
        guard var request = try? DXLMessageCodec.decode(buffer, topic: topic) else { return .pass }
        request.sourceClientId = clientId
        request.sourceBrokerId = me
        if request.version > 2 { request.sourceClientInstanceId = clientId }
        if topic.hasPrefix(Topic.replyPrefix) {
            // A request to a client's own reply topic: delivered like an event, never answered here.
            route = Route(messageId: request.messageId, target: .everyone, request: request)
            return .replace(DXLMessageCodec.encode(request, version: request.version))
        }
        if isBrokerService(topic) {
            if request.brokerIds.isEmpty || request.brokerIds.contains(me) {
                answerBrokerService(request, requesterIsLocal: true)
                return .drop
            }
            guard let target = request.brokerIds.lazy.compactMap({ self.layout.index(of: $0) }).first else {
                noDestination(request, serviceId: "", requesterIsLocal: true)
                return .drop
            }
            route = Route(messageId: request.messageId, target: .broker(target), request: request)
            return .replace(DXLMessageCodec.encode(request, version: request.version))
        }
        let service: ServiceRecord?
        if request.serviceId.isEmpty {
            service = registry.next(for: topic) { self.isReachable($0) }
        } else {
            service = registry.services[request.serviceId]
        }
        guard let service else {
            noDestination(request, serviceId: request.serviceId, requesterIsLocal: true)
            return .drop
        }
        request.serviceId = service.serviceGuid
        request.brokerIds = [service.brokerGuid]
        request.clientIds = [service.clientId]
        route = Route(messageId: request.messageId, target: target(of: service), request: request, service: service.serviceGuid, requesterIsLocal: true)
        if ownerIdentity(of: service) != layout.internalIdentity {
            note("request", topic: topic, fields: ["messageId": request.messageId, "source": clientId, "service": service.serviceGuid], payload: request.payload)
        }
        return .replace(DXLMessageCodec.encode(request, version: request.version))
    }

    /// Whether a request on `topic` is for the broker itself (its services, tiesim's queries).
    func isBrokerService(_ topic: String) -> Bool {
        topic.hasPrefix(BrokerServiceTopic.prefix) || topic == Topic.subscribers || topic == Topic.fabric
    }

    /// Where a request for `service` goes from here: its client, the bridge towards its broker, or nowhere.
    func target(of service: ServiceRecord) -> Route.Target {
        if service.brokerGuid == me { return .client(service.clientId) }
        return layout.index(of: service.brokerGuid).map { .broker($0) } ?? .nobody
    }

    /// A message that came over a bridge: stamped already by the broker it entered at.
    func bridgedMessage(topic: String, _ buffer: UnsafeRawBufferPointer) -> MessageVerdict {
        if topic == Topic.announce {
            receiveAnnouncement(buffer)
            return .pass
        }
        // The first bytes tell the type of nearly every message; the header is walked only when they do not.
        guard (DXLHeader.quickType(buffer) ?? DXLHeader.scan(buffer)?.type) == .request else { return .pass }
        guard let request = try? DXLMessageCodec.decode(buffer, topic: topic) else {
            route = nil
            return .pass
        }
        var target: Route.Target = .nobody
        var serviceGuid: String?
        if topic.hasPrefix(Topic.replyPrefix) {
            target = .everyone
        } else if isBrokerService(topic) {
            if request.brokerIds.contains(me) {
                answerBrokerService(request, requesterIsLocal: false)
            } else if let other = request.brokerIds.lazy.compactMap({ self.layout.index(of: $0) }).first {
                target = .broker(other)
            }
        } else if !request.serviceId.isEmpty, let service = registry.services[request.serviceId] {
            serviceGuid = service.serviceGuid
            target = self.target(of: service)
        }
        route = Route(messageId: request.messageId, target: target, request: request, service: serviceGuid, requesterIsLocal: false)
        return .pass
    }

    func routeAllowsClient(_ clientId: String, _ buffer: UnsafeRawBufferPointer) -> Bool {
        if isObserver(clientId) { return true }
        guard let messageId = DXLHeader.messageIdBytes(buffer) else { return true }
        guard route?.isFor(messageId: messageId) == true, let target = route?.target else {
            // A request not routed just now (a retained one): only the client it names, if any.
            guard let request = try? DXLMessageCodec.decode(buffer) else { return false }
            return request.clientIds.isEmpty ? request.serviceId.isEmpty : request.clientIds.contains(clientId)
        }
        switch target {
        case .everyone: return true
        case .client(let id) where id == clientId:
            route?.delivered = true
            return true
        default: return false
        }
    }

    func routeAllowsBridge(to bridged: Int, _ buffer: UnsafeRawBufferPointer) -> Bool {
        guard let messageId = DXLHeader.messageIdBytes(buffer), route?.isFor(messageId: messageId) == true, let target = route?.target else { return false }
        switch target {
        case .everyone: return true
        case .broker(let target) where layout.isInSubtree(target, of: bridged):
            route?.delivered = true
            return true
        default: return false
        }
    }

    /// After a request has been handed to its recipients: if it was meant for a client of this broker
    /// that did not receive it (gone, or no longer subscribed), the requester hears so and the service goes.
    func finalizeRoute() {
        // Checked before anything is copied: called for every message and loop turn, and mostly there is
        // no route (with `guard let` alone, the compiled code copied the whole 283-byte optional first).
        guard route != nil, let current = route else { return }
        route = nil
        guard case .client = current.target, current.checksDelivery, !current.delivered, let guid = current.service else { return }
        noDestination(current.request, serviceId: guid, requesterIsLocal: current.requesterIsLocal)
        unregister(guid, reason: "its client did not receive a request for it")
    }
}

/// The request being handed to recipients.
struct Route {
    enum Target: Equatable {
        /// Every subscriber (requests to reply topics).
        case everyone
        /// Only this client of this broker.
        case client(String)
        /// Only the bridge towards this broker (0-based index).
        case broker(Int)
        /// Nobody here.
        case nobody
    }

    var messageId: String
    var target: Target
    var request: DXLMessage
    var service: String? = nil
    var requesterIsLocal = false
    var delivered = false
    /// Whether an undelivered request is answered "no service" at the next turn (not at QoS 2).
    var checksDelivery = true

    /// Whether `bytes` (a message's id, where it lies in the message) are this request's id.
    func isFor(messageId bytes: UnsafeRawBufferPointer) -> Bool {
        messageId.utf8.withContiguousStorageIfAvailable { $0.elementsEqual(bytes) } ?? messageId.utf8.elementsEqual(bytes)
    }
}
