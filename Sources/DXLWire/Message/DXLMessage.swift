

/// The four DXL message types, by their wire code.
public enum DXLMessageType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case request = 0
    case response = 1
    case event = 2
    case errorResponse = 3

    public var description: String {
        switch self {
        case .request: return "request"
        case .response: return "response"
        case .event: return "event"
        case .errorResponse: return "error response"
        }
    }
}

/// One DXL message: a Request, Response, ErrorResponse or Event, with every field of wire versions 0–3.
///
/// Field names follow the Python `dxlclient` (`messageId` is `message_id`, and so on). Fields that only
/// some types carry are optional or empty for the others. The destination topic is not part of the
/// encoded body: it is the MQTT topic the message travels on. A plain value, safe to share.
public struct DXLMessage: Sendable, Equatable {
    /// One `other_fields` entry. Kept as an ordered list so that re-encoding preserves the sender's order.
    public struct OtherField: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The wire version this message was read with (2 for messages built here; 3 from the real broker).
    public var version: Int
    /// Request, response, event or error response.
    public var type: DXLMessageType
    /// The message id, `{uuid}` in lowercase with braces when generated here or by `dxlclient`.
    public var messageId: String
    /// The sending client's id; empty from clients, filled by a broker.
    public var sourceClientId: String
    /// The broker the sender is connected to; empty from clients, filled by a broker.
    public var sourceBrokerId: String
    /// Destination brokers (empty: no restriction).
    public var brokerIds: [String]
    /// Destination clients (empty: no restriction).
    public var clientIds: [String]
    /// Application bytes, usually UTF-8 JSON.
    public var payload: [UInt8]
    /// Requests: the topic the response goes to. `nil` until the request is sent.
    public var replyToTopic: String?
    /// Responses and error responses: the id of the request answered.
    public var requestMessageId: String?
    /// Requests and responses: the service the request is aimed at (empty: any).
    public var serviceId: String
    /// Error responses: the code as it was on the wire — the broker writes int32
    /// (`0x80000001` reads as -2147483647), `dxlclient` writes uint32. See `normalizedErrorCode`.
    public var errorCode: Int64
    /// Error responses: the text of the error.
    public var errorMessage: String?
    /// Version 1: extra string fields, in wire order.
    public var otherFields: [OtherField]
    /// Version 2: the sender's tenant.
    public var sourceTenantGuid: String
    /// Version 2: destination tenants.
    public var destinationTenantGuids: [String]
    /// Version 3 (broker only): the sender's MQTT client id.
    public var sourceClientInstanceId: String?
    /// The topic the message was sent or received on (the MQTT topic; not in the body).
    public var destinationTopic: String

    /// Creates a message of `type` with the given fields; everything else starts empty.
    public init(
        type: DXLMessageType,
        destinationTopic: String = "",
        payload: [UInt8] = [],
        messageId: String = DXLMessage.makeMessageId()
    ) {
        self.version = DXLMessage.writtenVersion
        self.type = type
        self.messageId = messageId
        self.sourceClientId = ""
        self.sourceBrokerId = ""
        self.brokerIds = []
        self.clientIds = []
        self.payload = payload
        self.replyToTopic = nil
        self.requestMessageId = type == .response || type == .errorResponse ? "" : nil
        self.serviceId = ""
        self.errorCode = 0
        self.errorMessage = type == .errorResponse ? "" : nil
        self.otherFields = []
        self.sourceTenantGuid = ""
        self.destinationTenantGuids = []
        self.sourceClientInstanceId = nil
        self.destinationTopic = destinationTopic
    }

    /// The version `dxlclient` 5.7.0.1 writes, and so the one we write.
    public static let writtenVersion = 2

    /// A new message id in `dxlclient`'s form: a lowercase UUID in braces (38 characters).
    public static func makeMessageId() -> String {
        MessageId.make()
    }

    /// The error code as the unsigned 32-bit value both wire forms stand for (`0x80000001`).
    public var normalizedErrorCode: UInt32 { UInt32(truncatingIfNeeded: errorCode) }

    /// The payload read as UTF-8 text (invalid sequences repaired).
    public var payloadString: String { String(decoding: payload, as: UTF8.self) }

    /// The value of the first `other_fields` entry called `name`.
    public func otherField(_ name: String) -> String? {
        otherFields.first { $0.name == name }?.value
    }
}

extension DXLMessage {
    /// An event on `topic` carrying `payload`.
    public static func event(topic: String, payload: [UInt8]) -> DXLMessage {
        DXLMessage(type: .event, destinationTopic: topic, payload: payload)
    }

    /// An event on `topic` carrying `payload` as UTF-8.
    public static func event(topic: String, payload: String) -> DXLMessage {
        event(topic: topic, payload: Array(payload.utf8))
    }

    /// A request on `topic`; the client sending it stamps `replyToTopic`.
    public static func request(topic: String, payload: [UInt8], serviceId: String = "") -> DXLMessage {
        var message = DXLMessage(type: .request, destinationTopic: topic, payload: payload)
        message.serviceId = serviceId
        return message
    }

    /// A request on `topic` carrying `payload` as UTF-8.
    public static func request(topic: String, payload: String, serviceId: String = "") -> DXLMessage {
        request(topic: topic, payload: Array(payload.utf8), serviceId: serviceId)
    }

    /// A response to `request`, routed back the way `dxlclient`'s `Response(request)` routes it.
    public static func response(to request: DXLMessage, payload: [UInt8]) -> DXLMessage {
        var message = DXLMessage(type: .response, destinationTopic: request.replyToTopic ?? "", payload: payload)
        message.fillRouting(from: request)
        return message
    }

    /// A response to `request` carrying `payload` as UTF-8.
    public static func response(to request: DXLMessage, payload: String) -> DXLMessage {
        response(to: request, payload: Array(payload.utf8))
    }

    /// An error response to `request` with `code` (written as given: pass a negative value for the
    /// broker's int32 form) and `message`.
    public static func errorResponse(to request: DXLMessage, code: Int64, message text: String) -> DXLMessage {
        var message = DXLMessage(type: .errorResponse, destinationTopic: request.replyToTopic ?? "")
        message.fillRouting(from: request)
        message.errorCode = code
        message.errorMessage = text
        return message
    }

    private mutating func fillRouting(from request: DXLMessage) {
        requestMessageId = request.messageId
        serviceId = request.serviceId
        if !request.sourceClientId.isEmpty { clientIds = [request.sourceClientId] }
        if !request.sourceBrokerId.isEmpty { brokerIds = [request.sourceBrokerId] }
    }
}

/// Fabric error codes (bit 31 set) and their messages, as the DXL broker sends them.
public enum DXLErrorCode {
    /// No service is registered for the request's topic.
    public static let serviceUnavailable: UInt32 = 0x8000_0001
    /// The service is overloaded.
    public static let serviceOverloaded: UInt32 = 0x8000_0002
    /// The fabric timed out waiting for the response.
    public static let responseTimeout: UInt32 = 0x8000_0003
    /// The tenant's service limit is exceeded.
    public static let serviceLimitExceeded: UInt32 = 0x8000_0011
    /// The tenant's subscription limit is exceeded.
    public static let subscriptionLimitExceeded: UInt32 = 0x8000_0012
    /// tiesim's own: a response was larger than the fabric's message limit and was not sent.
    public static let responseTooLarge: UInt32 = 0x8000_0100

    /// The broker's text for "no service": "unable to locate service for request".
    public static let serviceUnavailableMessage = "unable to locate service for request"

    /// The broker's text for an overloaded service: "service is overloaded".
    public static let serviceOverloadedMessage = "service is overloaded"

    /// A code in the broker's int32 wire form (`0x80000001` → -2147483647).
    public static func brokerWireForm(_ code: UInt32) -> Int64 {
        Int64(Int32(bitPattern: code))
    }
}
