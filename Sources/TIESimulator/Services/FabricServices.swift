import DXL
import DXLBroker
import Foundation
import Logging
import Synchronization
import TIE

/// tiesim's window on what the brokers do: the DXL broker itself (routing, the registries, the broker
/// services, authorisation) runs inside mosquitto as tiesim's plugin, which sends tiesim notes of what it
/// did — requests it routed to services other than tiesim's, requests nobody could serve, sends and
/// deliveries it refused. This turns them, and the TIE events seen on the fabric, into journal entries.
///
/// Threading: handlers run on the DXL client's network thread; the journal is thread-safe.
public final class FabricServices: Sendable {
    private let client: DXLClient
    private let logger: Logger
    private let tokens = Mutex<[DXLClient.CallbackToken]>([])
    /// Where requests and TIE events seen on the fabric are recorded.
    public let journal: Journal?
    /// Whether TIE events are journaled too.
    let journalsEvents: Bool
    /// Notes the brokers left out (past their per-second limit); `/journal` reports the count.
    private let leftOut = Atomic<Int>(0)

    /// Notes received through `client` (one of tiesim's own, the only identity that may receive them).
    public init(client: DXLClient, journal: Journal? = nil, journalsEvents: Bool = true, logger: Logger = Logger(label: "tiesim.fabric")) {
        self.client = client
        self.journal = journal
        self.journalsEvents = journalsEvents
        self.logger = logger
    }

    /// Starts following the brokers' notes (and the TIE events).
    public func start() async throws {
        var added: [DXLClient.CallbackToken] = []
        added.append(try await client.addEventCallback(topic: BrokerCore.Topic.journal) { [weak self] in self?.receive($0) })
        if let journal, journalsEvents {
            for topic in ["/mcafee/event/tie/#", "/mcafee/event/external/#"] {
                added.append(try await client.addEventCallback(topic: topic) { journal.record($0, kind: .event) })
            }
        }
        tokens.withLock { $0 += added }
    }

    /// Stops following.
    public func stop() {
        for token in tokens.withLock({ tokens in defer { tokens.removeAll() }; return tokens }) { client.removeCallback(token) }
    }

    /// How many notes the brokers left out of the journal (they send at most 200 of a kind a second).
    public var notesLeftOut: Int { leftOut.load(ordering: .relaxed) }

    func receive(_ note: DXLMessage) {
        if let count = note.otherField("leftOut").flatMap(Int.init) {
            leftOut.add(count, ordering: .relaxed)
            logger.warning("the brokers left \(count) notes out of the journal (more requests than \(BrokerCore.notesPerSecond("request")) a second, or refusals than \(BrokerCore.notesPerSecond("denied-send")))")
        }
        guard let journal, let kind = note.otherField("kind"), let topic = note.otherField("topic") else { return }
        var message = DXLMessage(type: .request, destinationTopic: topic, payload: note.payload, messageId: note.otherField("messageId") ?? "")
        message.sourceClientId = note.otherField("source") ?? note.otherField("client") ?? ""
        message.serviceId = note.otherField("service") ?? ""
        switch kind {
        case "request":
            journal.record(message, kind: .request)
        case "no-destination":
            logger.info("no service for request \(message.messageId) on \(topic)")
            journal.record(message, kind: .errorReply, note: DXLErrorCode.serviceUnavailableMessage)
        case "denied-send":
            journal.record(message, kind: .denied, note: "\(note.otherField("identity") ?? "?") may not send on \(topic)")
        case "denied-receive":
            journal.record(message, kind: .denied, note: "\(note.otherField("identity") ?? "?") may not receive on \(topic)")
        default:
            break
        }
    }
}
