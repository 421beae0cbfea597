import DXL
import Foundation
import Logging
import Synchronization
import TIE

/// What the DXL broker adds over plain MQTT, provided by an ordinary client of mosquitto: the service
/// registry (register, unregister, query, with TTLs and the registry events) and the "no service"
/// ErrorResponse for requests nobody serves.
///
/// Threading: handlers run on the DXL client's network thread; the registry is behind a `Mutex`.
public final class FabricServices: Sendable {
    /// A registered service, as the registry keeps it.
    public struct Registration: Sendable, Equatable {
        public var serviceGuid: String
        public var serviceType: String
        public var requestChannels: [String]
        public var metaData: [String: String]
        public var ttlMinutes: Int
        public var clientId: String
        public var registered: Date

        var expires: Date { registered.addingTimeInterval(TimeInterval(max(1, ttlMinutes)) * 60) }

        var json: JSONValue {
            .object([
                "serviceGuid": .string(serviceGuid), "serviceType": .string(serviceType),
                "requestChannels": .array(requestChannels.map { .string($0) }),
                "metaData": .object(metaData.mapValues { .string($0) }),
                "ttlMins": .int(Int64(ttlMinutes)), "clientGuid": .string(clientId), "clientInstanceGuid": .string(clientId),
                "registrationTime": .int(Int64(registered.timeIntervalSince1970)),
                "certificates": .array([]), "managed": false, "local": true, "unauthorizedChannels": .array([]),
            ])
        }
    }

    private let client: DXLClient
    private let registry = Mutex<[String: Registration]>([:])
    private let simulatedTopics: Mutex<Set<String>>
    private let logger: Logger
    private let tokens = Mutex<[DXLClient.CallbackToken]>([])
    /// Where requests and TIE events seen on the fabric are recorded.
    public let journal: Journal?
    /// Whether TIE events are journaled too.
    let journalsEvents: Bool
    /// The fabric's broker GUID, in `brokerGuid` of registrations.
    public let brokerGuid: String
    /// Whether requests nobody serves get the "no service" error. That needs a `#` subscription, which
    /// copies every message on the fabric to tiesim (about a third of the request throughput).
    public let answersUnservedRequests: Bool

    /// Fabric services answering through `client`; `simulatedTopics` are served by tiesim itself (the
    /// fake TIE's topics) and never get a "no service" error.
    public init(client: DXLClient, brokerGuid: String, simulatedTopics: Set<String> = Set(FakeTieService.servedTopics),
                answersUnservedRequests: Bool = true, journal: Journal? = nil, journalsEvents: Bool = true, logger: Logger = Logger(label: "tiesim.fabric")) {
        self.client = client
        self.journal = journal
        self.journalsEvents = journalsEvents
        self.brokerGuid = brokerGuid
        self.answersUnservedRequests = answersUnservedRequests
        self.simulatedTopics = Mutex(simulatedTopics.union([ServiceRegistryTopic.register, ServiceRegistryTopic.unregister, ServiceRegistryTopic.query]))
        self.logger = logger
    }

    /// Adds topics that tiesim serves itself.
    public func addSimulatedTopics(_ topics: [String]) {
        simulatedTopics.withLock { $0.formUnion(topics) }
    }

    /// Starts answering the registry topics and watching every request for a missing service.
    public func start() async throws {
        var added: [DXLClient.CallbackToken] = []
        added.append(try await client.addRequestCallback(topic: ServiceRegistryTopic.register) { [weak self] in self?.register($0) })
        added.append(try await client.addRequestCallback(topic: ServiceRegistryTopic.unregister) { [weak self] in self?.unregister($0) })
        added.append(try await client.addRequestCallback(topic: ServiceRegistryTopic.query) { [weak self] in self?.query($0) })
        if answersUnservedRequests {
            // Every request on the fabric passes here; the ones nobody serves get the broker's error.
            added.append(try await client.addRequestCallback(topic: "#") { [weak self] in
                self?.journal?.record($0, kind: .request)
                self?.checkServed($0)
            })
        }
        if let journal, journalsEvents {
            for topic in ["/mcafee/event/tie/#", "/mcafee/event/external/#"] {
                added.append(try await client.addEventCallback(topic: topic) { journal.record($0, kind: .event) })
            }
        }
        tokens.withLock { $0 += added }
    }

    /// Stops answering.
    public func stop() {
        for token in tokens.withLock({ tokens in defer { tokens.removeAll() }; return tokens }) { client.removeCallback(token) }
    }

    /// The live registrations.
    public var registrations: [Registration] {
        let now = Date()
        return registry.withLock { registry in
            registry = registry.filter { $0.value.expires > now }
            return registry.values.sorted { $0.registered < $1.registered }
        }
    }

    /// Forgets every registration.
    public func reset() {
        registry.withLock { $0.removeAll() }
    }

    static func clientId(of request: DXLMessage) -> String {
        if !request.sourceClientId.isEmpty { return request.sourceClientId }
        let prefix = "/mcafee/client/"
        if let reply = request.replyToTopic, reply.hasPrefix(prefix) { return String(reply.dropFirst(prefix.count)) }
        return ""
    }

    func reply(_ message: DXLMessage) {
        do { try client.send(message) } catch { logger.warning("could not answer \(message.requestMessageId ?? ""): \(error)") }
    }

    func register(_ request: DXLMessage) {
        guard let body = try? JSONValue.parse(request.payload.last == 0 ? Array(request.payload.dropLast()) : request.payload),
              let guid = body["serviceGuid"]?.stringValue, !guid.isEmpty else {
            reply(.errorResponse(to: request, code: 0, message: "a registration needs a JSON body with serviceGuid"))
            return
        }
        let registration = Registration(
            serviceGuid: guid, serviceType: body["serviceType"]?.stringValue ?? "",
            requestChannels: body["requestChannels"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            metaData: body["metaData"]?.objectValue?.compactMapValues(\.stringValue) ?? [:],
            ttlMinutes: Int(body["ttlMins"]?.intValue ?? 60), clientId: Self.clientId(of: request), registered: Date()
        )
        registry.withLock { $0[guid] = registration }
        logger.info("registered service \(registration.serviceType) \(guid) on \(registration.requestChannels)")
        reply(.response(to: request, payload: []))
        publishEvent(ServiceRegistryTopic.registerEvent, registration.json)
    }

    func unregister(_ request: DXLMessage) {
        let body = try? JSONValue.parse(request.payload.last == 0 ? Array(request.payload.dropLast()) : request.payload)
        guard let guid = body?["serviceGuid"]?.stringValue else {
            reply(.errorResponse(to: request, code: 0, message: "an unregistration needs a JSON body with serviceGuid"))
            return
        }
        let removed = registry.withLock { $0.removeValue(forKey: guid) }
        reply(.response(to: request, payload: []))
        if let removed {
            logger.info("unregistered service \(removed.serviceType) \(guid)")
            publishEvent(ServiceRegistryTopic.unregisterEvent, removed.json)
        }
    }

    func query(_ request: DXLMessage) {
        let body = try? JSONValue.parse(request.payload.last == 0 ? Array(request.payload.dropLast()) : request.payload)
        let guid = body?["serviceGuid"]?.stringValue ?? body?["serviceId"]?.stringValue
        let type = body?["serviceType"]?.stringValue
        var services: [String: JSONValue] = [:]
        for registration in registrations where (guid == nil || registration.serviceGuid == guid) && (type == nil || registration.serviceType == type) {
            var json = registration.json
            json["brokerGuid"] = .string(brokerGuid)
            services[registration.serviceGuid] = json
        }
        reply(.response(to: request, payload: Array(JSONValue.object(["services": .object(services)]).serialized(style: .python).utf8)))
    }

    func publishEvent(_ topic: String, _ body: JSONValue) {
        var body = body
        body["brokerGuid"] = .string(brokerGuid)
        try? client.sendEvent(topic: topic, payload: Array(body.serialized(style: .python).utf8))
    }

    /// Whether a request on `topic` has a server: a registered service's channel or tiesim itself
    /// (trailing-`#` channels match below them, as the broker's lookup does).
    public func isServed(_ topic: String) -> Bool {
        let candidates = DXLTopic.candidates(for: topic)
        if simulatedTopics.withLock({ topics in candidates.contains { topics.contains($0) } }) { return true }
        return registrations.contains { registration in registration.requestChannels.contains { candidates.contains($0) } }
    }

    func checkServed(_ request: DXLMessage) {
        guard !isServed(request.destinationTopic), let replyTo = request.replyToTopic, !replyTo.isEmpty else { return }
        logger.info("no service for request \(request.messageId) on \(request.destinationTopic)")
        reply(.errorResponse(to: request, code: DXLErrorCode.brokerWireForm(DXLErrorCode.serviceUnavailable), message: DXLErrorCode.serviceUnavailableMessage))
    }
}
