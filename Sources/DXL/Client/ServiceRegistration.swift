import DXLWire

/// A service this client offers: its type, the request topics it answers and how, as in `dxlclient`'s
/// `ServiceRegistrationInfo`.
public struct ServiceRegistrationInfo: Sendable {
    /// The service type (e.g. `/mcafee/service/tie`).
    public var serviceType: String
    /// The service's id, `{uuid}`, sent with every registration.
    public var serviceGuid: String
    /// Free-form metadata published with the registration.
    public var metadata: [String: String]
    /// How long the registration lasts before it must be renewed (dxlclient: 60; at least 10).
    public var ttlMinutes: Int
    /// Tenants the registration is aimed at (multi-tenant fabrics only).
    public var destinationTenantGuids: [String]
    /// Request topic → handler. Handlers run on the network thread: answer with `DXLClient.send(_:)`
    /// (non-blocking) or hand the work to a task.
    public var requestHandlers: [String: @Sendable (DXLMessage) -> Void]

    public init(
        serviceType: String,
        serviceGuid: String = DXLMessage.makeMessageId(),
        metadata: [String: String] = [:],
        ttlMinutes: Int = 60,
        destinationTenantGuids: [String] = [],
        requestHandlers: [String: @Sendable (DXLMessage) -> Void] = [:]
    ) {
        self.serviceType = serviceType
        self.serviceGuid = serviceGuid
        self.metadata = metadata
        self.ttlMinutes = ttlMinutes
        self.destinationTenantGuids = destinationTenantGuids
        self.requestHandlers = requestHandlers
    }

    /// The request topics.
    public var topics: [String] { requestHandlers.keys.sorted() }

    /// The JSON body of a `/mcafee/service/dxl/svcregistry/register` request, as dxlclient writes it
    /// (its members, its order, `json.dumps`' separators). The topics and metadata, kept in dictionaries
    /// here, go sorted; dxlclient writes them in the order they were added.
    public var registerPayload: [UInt8] {
        let body: JSONObject = [
            "serviceType": .string(serviceType),
            "metaData": .object(JSONObject(metadata.mapValues { .string($0) })),
            "requestChannels": .array(topics.map { .string($0) }),
            "ttlMins": .int(Int64(ttlMinutes)),
            "serviceGuid": .string(serviceGuid),
        ]
        return JSONValue.object(body).serializedBytes(style: .python, sortedKeys: false)
    }

    /// The JSON body of an unregister request.
    public var unregisterPayload: [UInt8] {
        JSONValue.object(["serviceGuid": .string(serviceGuid)]).serializedBytes(style: .python, sortedKeys: false)
    }
}
