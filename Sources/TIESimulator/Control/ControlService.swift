import DXL
import Logging
import Synchronization
import TIE

/// The control commands as DXL services under `/tiesim/control/`, so any DXL client — Python
/// included — can drive a running fabric with no extra port. Request payloads: scenario YAML for
/// `load`, `play` and `verify`; nothing (or `{"sinceMs": n}`) for `journal`; nothing for `reset`.
/// Replies are JSON; failures are ErrorResponses carrying the message. A `journal` reply is a page that
/// fits in one DXL message: with `"more": true`, ask again with `{"sinceMs": nextSinceMs}`.
public final class ControlService: Sendable {
    public static let prefix = "/tiesim/control/"
    public static let topics = ["reset", "load", "play", "journal", "verify"].map { prefix + $0 }

    private let client: DXLClient
    private let control: FabricControl
    private let logger: Logger

    public init(client: DXLClient, control: FabricControl, logger: Logger = Logger(label: "tiesim.control")) {
        self.client = client
        self.control = control
        self.logger = logger
    }

    /// The page size of `journal` replies when the client has no message limit: the DXL broker's 1 MiB.
    static let defaultMessageLimit = 1 << 20

    /// The service type the control commands register as.
    public static let serviceType = "/tiesim/control"

    /// Registers the control commands as a DXL service, so requests reach them through the broker's routing.
    public func start() async throws {
        var handlers: [String: @Sendable (DXLMessage) -> Void] = [:]
        for topic in Self.topics {
            handlers[topic] = { [weak self] request in
                guard let self else { return }
                Task { await self.handle(request) }
            }
        }
        try await client.registerService(ServiceRegistrationInfo(serviceType: Self.serviceType, requestHandlers: handlers))
    }

    func handle(_ request: DXLMessage) async {
        let text = request.payloadString
        let reply: DXLMessage
        do throws(ControlError) {
            let result: JSONValue
            switch request.destinationTopic.dropFirst(Self.prefix.count) {
            case "reset": result = control.reset()
            case "load": result = try control.load(text)
            case "play": result = try await control.play(text)
            case "journal":
                // A page that fits in one message: the reply says whether there is more and where it starts.
                let limit = (client.config.maxMessageSize ?? Self.defaultMessageLimit) - 4096
                result = control.journal(sinceMs: (try? JSONValue.parse(text))?["sinceMs"]?.doubleValue, maxBytes: limit)
            case "verify": result = try control.verify(text)
            default: throw ControlError(message: "unknown control command \(request.destinationTopic)", status: 404)
            }
            reply = .response(to: request, payload: result.serializedBytes(style: .python))
        } catch {
            reply = .errorResponse(to: request, code: Int64(error.status), message: error.message)
        }
        do { try client.send(reply) } catch { logger.warning("could not answer control request \(request.messageId): \(error)") }
    }
}
