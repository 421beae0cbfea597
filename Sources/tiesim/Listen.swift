import ArgumentParser
import DXL
import Foundation
import TIE

/// `tiesim listen`: print TIE events as the dxltieclient samples do.
struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each TIE event as the dxltieclient callback samples print it.",
        discussion: """
        For each event: a line '<Kind> on topic: <topic>' (Detection, First instance, Reputation change), \
        then the dictionary the Python callback would receive as JSON with sorted keys and 4-space indents. \
        Other topics print 'Event on topic: <topic>' and the payload.
        """
    )

    @Option(name: .long, help: "The dxlclient.config to connect with.")
    var config: String

    @Option(name: .long, help: "Topics to listen on (default: detection, first instance, file and certificate reputation changes).")
    var topic: [String] = []

    @Option(name: .long, help: "Exit after this many events (default: run until interrupted).")
    var count: Int?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        global.bootstrap()
        let clientConfig = try readClientConfig(config)
        let client = try DXLClient(config: clientConfig)
        try await starting { try await client.connect() }
        let topics = topic.isEmpty
            ? [TieTopic.fileDetection, TieTopic.fileFirstInstance, TieTopic.fileReputationChange, TieTopic.certificateReputationChange]
            : topic
        let signals = SignalWaiter()
        let counter = EventCounter(limit: count, signals: signals)
        for topic in topics {
            try await client.addEventCallback(topic: topic) { event in
                printLine(Self.render(event))
                counter.increment()
            }
        }
        printError("tiesim: listening on \(topics.joined(separator: ", "))")
        await signals.wait()
        await client.disconnect()
    }

    /// The sample's output for `event`.
    static func render(_ event: DXLMessage) -> String {
        let topic = event.destinationTopic
        guard let json = try? JSONValue.parse(event.payload) else {
            return "Event on topic: \(topic)\n\(event.payloadString)"
        }
        do {
            let (kind, dict): (String, JSONValue)
            switch topic {
            case TieTopic.fileDetection: (kind, dict) = ("Detection", try TieEventTransform.detection(json))
            case TieTopic.fileFirstInstance: (kind, dict) = ("First instance", try TieEventTransform.firstInstance(json))
            case TieTopic.fileReputationChange, TieTopic.certificateReputationChange:
                (kind, dict) = ("Reputation change", try TieEventTransform.reputationChange(json))
            default: (kind, dict) = ("Event", json)
            }
            return "\(kind) on topic: \(topic)\n\(dict.serialized(style: .indented(4)))"
        } catch {
            return "Event on topic: \(topic) (not a valid TIE event: \(error))\n\(json.serialized(style: .indented(4)))"
        }
    }
}

/// Counts printed events and ends `listen` after `limit`.
final class EventCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = 0
    private let limit: Int?
    private let signals: SignalWaiter

    init(limit: Int?, signals: SignalWaiter) {
        self.limit = limit
        self.signals = signals
    }

    func increment() {
        lock.lock()
        seen += 1
        let done = limit.map { seen >= $0 } ?? false
        lock.unlock()
        if done { kill(getpid(), SIGTERM) }
    }
}
