import DXLWire

/// A service as the registry keeps it.
public struct ServiceRecord: Sendable, Equatable {
    public var serviceGuid: String
    public var serviceType: String
    public var requestChannels: [String]
    public var metaData: [String: String]
    public var ttlMinutes: Int
    /// The MQTT client id of the client that registered it (the only one that receives its requests).
    public var clientId: String
    /// The broker that client is connected to.
    public var brokerGuid: String
    /// Seconds since 1970 when it was registered (or last refreshed).
    public var registrationTime: Int64

    public init(serviceGuid: String, serviceType: String, requestChannels: [String], metaData: [String: String] = [:],
                ttlMinutes: Int = 60, clientId: String, brokerGuid: String, registrationTime: Int64) {
        self.serviceGuid = serviceGuid
        self.serviceType = serviceType
        self.requestChannels = requestChannels
        self.metaData = metaData
        self.ttlMinutes = ttlMinutes
        self.clientId = clientId
        self.brokerGuid = brokerGuid
        self.registrationTime = registrationTime
    }

    /// When it lapses unless refreshed, in seconds since 1970.
    public var expires: Int64 { registrationTime + Int64(max(1, ttlMinutes)) * 60 }

    /// The registration as `svcregistry/query` lists it and the register event carries it.
    public func json(local: Bool?) -> JSONValue {
        var object: JSONObject = [
            "serviceType": .string(serviceType), "serviceGuid": .string(serviceGuid),
            "clientGuid": .string(clientId), "clientInstanceGuid": .string(clientId), "brokerGuid": .string(brokerGuid),
            "ttlMins": .int(Int64(ttlMinutes)), "registrationTime": .int(registrationTime),
            "requestChannels": .array(requestChannels.map { .string($0) }), "metaData": .object(JSONObject(metaData.mapValues { .string($0) })),
            "certificates": .array([]), "managed": false,
        ]
        if let local {
            object["local"] = .bool(local)
            object["unauthorizedChannels"] = .array([])
        }
        return .object(object)
    }

    /// Reads a registration from its JSON form (a register request's body, or a registry entry).
    public init?(json: JSONValue, clientId: String, brokerGuid: String, now: Int64) {
        guard let guid = json["serviceGuid"]?.stringValue, !guid.isEmpty, guid.utf8.count <= 256 else { return nil }
        let channels = json["requestChannels"]?.arrayValue?.compactMap(\.stringValue).filter { !$0.isEmpty } ?? []
        let ttl = json["ttlMins"]?.intValue ?? 60
        self.init(serviceGuid: guid, serviceType: json["serviceType"]?.stringValue ?? "", requestChannels: channels,
                  metaData: json["metaData"]?.objectValue?.compactMapValues(\.stringValue) ?? [:],
                  // At least a minute, at most a year: a TTL in the billions would never lapse and overflow the clock.
                  ttlMinutes: Int(min(max(ttl, 1), 525_600)),
                  clientId: clientId, brokerGuid: brokerGuid, registrationTime: json["registrationTime"]?.intValue ?? now)
    }
}

/// The service registry of a fabric as one broker holds it: every service, which client and broker it
/// belongs to, and the lookup of the service a request goes to — round-robin over the services of a
/// request channel, with DXL's wildcard channels (`/a/#` serves `/a/b`) tried from the most specific.
///
/// Bounded: at most `limit` services. Not thread-safe: the broker calls it from its one thread.
public struct ServiceRegistry: Sendable {
    /// Every service, by GUID.
    public private(set) var services: [String: ServiceRecord] = [:]
    /// The order services were registered in (the round-robin order).
    private var order: [String] = []
    /// Channel → the GUIDs serving it, in registration order.
    private var byChannel: [String: [String]] = [:]
    /// Channel → the next position to hand out.
    private var cursor: [String: Int] = [:]
    /// The most services the registry keeps.
    public let limit: Int

    public init(limit: Int = 10_000) {
        self.limit = limit
    }

    public var count: Int { services.count }

    /// Adds or refreshes `record`. A service registered again with the same channels keeps its place in
    /// the rotation; false when the registry is full.
    @discardableResult
    public mutating func add(_ record: ServiceRecord) -> Bool {
        if let existing = services[record.serviceGuid] {
            if existing.requestChannels == record.requestChannels && existing.clientId == record.clientId {
                services[record.serviceGuid] = record
                return true
            }
            remove(record.serviceGuid)
        }
        guard services.count < limit else { return false }
        services[record.serviceGuid] = record
        order.append(record.serviceGuid)
        for channel in Set(record.requestChannels) {
            byChannel[channel, default: []].append(record.serviceGuid)
        }
        return true
    }

    /// Removes the service `guid`; returns it.
    @discardableResult
    public mutating func remove(_ guid: String) -> ServiceRecord? {
        guard let record = services.removeValue(forKey: guid) else { return nil }
        order.removeAll { $0 == guid }
        for channel in Set(record.requestChannels) {
            byChannel[channel]?.removeAll { $0 == guid }
            if byChannel[channel]?.isEmpty == true {
                byChannel[channel] = nil
                cursor[channel] = nil
            }
        }
        return record
    }

    /// Removes every service `predicate` picks; returns them.
    public mutating func removeAll(where predicate: (ServiceRecord) -> Bool) -> [ServiceRecord] {
        let doomed = order.compactMap { services[$0] }.filter(predicate)
        for record in doomed { remove(record.serviceGuid) }
        return doomed
    }

    /// The services in registration order.
    public var all: [ServiceRecord] { order.compactMap { services[$0] } }

    /// The next service for a request on `topic` (round-robin per channel, most specific channel first),
    /// skipping those `usable` rejects; nil when none serves it.
    public mutating func next(for topic: String, usable: (ServiceRecord) -> Bool = { _ in true }) -> ServiceRecord? {
        for channel in DXLTopic.candidates(for: topic) {
            guard let guids = byChannel[channel], !guids.isEmpty else { continue }
            let start = cursor[channel, default: 0]
            for step in 0..<guids.count {
                let position = (start + step) % guids.count
                if let record = services[guids[position]], usable(record) {
                    cursor[channel] = (position + 1) % guids.count
                    return record
                }
            }
        }
        return nil
    }

}
