/// Errors of the DXL client.
public enum DXLError: Error, Sendable, CustomStringConvertible {
    /// No broker in the configuration accepted a connection after every retry.
    case brokerUnreachable(brokers: [DXLBroker], attempts: Int, lastError: String)
    /// No response arrived for request `messageId` on `topic` within `timeout`.
    case timeout(topic: String, messageId: String, timeout: Duration)
    /// The operation needs a connection and the client is not connected.
    case notConnected
    /// A service replied with a DXL ErrorResponse.
    case errorResponse(code: Int64, message: String)
    /// The service registry refused a registration or unregistration.
    case registration(serviceType: String, reason: String)
    /// The transport failed.
    case transport(TransportError)
    /// The task waiting for request `messageId` on `topic` was cancelled (its response, should it come,
    /// is dropped).
    case cancelled(topic: String, messageId: String)
    /// A message of `size` bytes was not sent: the fabric's brokers take at most `limit` (they would drop
    /// the connection of a client that sent it).
    case messageTooLarge(topic: String, size: Int, limit: Int)

    public var description: String {
        switch self {
        case .messageTooLarge(let topic, let size, let limit):
            return "a message of \(size) bytes on \(topic) was not sent: the fabric takes at most \(limit) bytes per message"
        case .brokerUnreachable(let brokers, let attempts, let lastError):
            let list = brokers.map(\.description).joined(separator: ", ")
            return "no broker reachable (\(list)) after \(attempts) attempt(s); last error: \(lastError)"
        case .timeout(let topic, let messageId, let timeout):
            return "no response to request \(messageId) on \(topic) within \(timeout)"
        case .notConnected:
            return "the DXL client is not connected — call connect() first"
        case .errorResponse(let code, let message):
            return "Error: \(message) (\(code))"
        case .registration(let serviceType, let reason):
            return "service '\(serviceType)': \(reason)"
        case .transport(let error):
            return error.description
        case .cancelled(let topic, let messageId):
            return "request \(messageId) on \(topic) was cancelled"
        }
    }
}
