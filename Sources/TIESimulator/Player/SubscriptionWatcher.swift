import DXL
import DXLBroker
import Foundation

/// Knows who subscribed to what on a fabric tiesim runs, by asking its brokers: the DXL broker plugin
/// learns every subscription, unsubscription and disconnect, and the brokers share them, so one broker
/// answers for the whole fabric (`/tiesim/broker/subscribers`).
///
/// This is how a step waits for a late subscriber without changing the subscriber: DXL events are QoS 0,
/// so an event sent before anyone subscribed is lost. The broker holds the question until someone
/// subscribes (no polling). Against a fabric tiesim does not run there is no plugin to ask; see
/// `scenarios/README.md` for what happens then. Threading: any task.
public final class SubscriptionWatcher: Sendable {
    private let client: DXLClient
    private let ignoredIdentities: [String]

    /// Asks through `client`; subscriptions of clients with the `ignoring` certificate identities (tiesim's
    /// own) do not count.
    public init(client: DXLClient, ignoring identities: Set<String> = []) {
        self.client = client
        self.ignoredIdentities = identities.sorted()
    }

    /// The clients (other than ignored ones) with a subscription that receives `topic`.
    public func subscribers(of topic: String) async throws -> [String] {
        try await ask(topic, wait: .zero)
    }

    /// Waits until a client subscribes to something that receives `topic`, at most `timeout`.
    /// Returns the subscribers, or throws `WaitError.timedOut`.
    @discardableResult
    public func waitForSubscriber(of topic: String, timeout: Duration) async throws -> [String] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            try Task.checkCancellation()
            // The broker holds each question for at most 5 s, so that a lost answer costs little.
            let left = clock.now.duration(to: deadline)
            let found = try await ask(topic, wait: min(max(left, .zero), .seconds(5)))
            if !found.isEmpty { return found }
            guard clock.now < deadline else { throw WaitError.timedOut(topic: topic, timeout: timeout) }
        }
    }

    private func ask(_ topic: String, wait: Duration) async throws -> [String] {
        let milliseconds = Int64(wait.inSeconds * 1000)
        let body = JSONValue.object(["topic": .string(topic), "ignoreIdentities": .array(ignoredIdentities.map { .string($0) }), "waitMs": .int(milliseconds)])
        let reply: DXLMessage
        do {
            reply = try await client.request(.request(topic: BrokerCore.Topic.subscribers, payload: body.serializedBytes()), timeout: wait + .seconds(10))
        } catch {
            if case .cancelled = error { throw CancellationError() }
            throw error
        }
        guard reply.type == .response else {
            throw WaitError.brokerRefused(reply.errorMessage ?? "error \(reply.errorCode)")
        }
        let answer = try JSONValue.parse(reply.payload)
        return Array(Set(answer["subscribers"]?.arrayValue?.compactMap { $0["clientId"]?.stringValue } ?? [])).sorted()
    }

    /// Why waiting ended without a subscriber.
    public enum WaitError: Error, CustomStringConvertible {
        case timedOut(topic: String, timeout: Duration)
        case brokerRefused(String)
        public var description: String {
            switch self {
            case .timedOut(let topic, let timeout):
                return "no client subscribed to \(topic) within \(timeout) — start the subscriber, or raise settings.subscriberTimeout"
            case .brokerRefused(let reason):
                return "the broker could not say who subscribed: \(reason)"
            }
        }
    }
}
