import DXL
import Foundation
import Synchronization

/// Knows who subscribed to what on a broker tiesim runs, by following mosquitto's log
/// (`log_type subscribe` prints `<client> <qos> <topic>`; `log_type unsubscribe` prints `<client> <topic>`;
/// a disconnect drops the client's subscriptions).
///
/// This is how a step waits for a late subscriber without changing the subscriber: DXL events are QoS 0,
/// so an event sent before anyone subscribed is lost. Against a fabric tiesim does not run there is no
/// log to follow; see `scenarios/README.md` for what happens then.
/// Threading: any thread; a background task reads the log every 20 ms.
public final class SubscriptionWatcher: Sendable {
    private struct State {
        var subscriptions: [String: [String: Set<String>]] = [:]  // log path → client → topic filters
        var followers: [String: LogFollower] = [:]  // log path → where reading stopped
    }

    private let logPaths: [String]
    private let state = Mutex(State())
    private let ignored: Mutex<Set<String>>

    /// Follows the mosquitto log at `logPath`; subscriptions of `ignoring` clients (tiesim's own) do not count.
    public convenience init(logPath: String, ignoring: Set<String> = []) {
        self.init(logPaths: [logPath], ignoring: ignoring)
    }

    /// Follows the logs of all the brokers of a bridged fabric; a subscriber on any of them counts (bridges
    /// carry every event to every broker). The bridges' own subscriptions do not count.
    public init(logPaths: [String], ignoring: Set<String> = []) {
        self.logPaths = logPaths
        self.ignored = Mutex(ignoring)
    }

    /// Stops counting `clientId`'s subscriptions (tiesim's own clients).
    public func ignore(_ clientId: String) {
        ignored.withLock { _ = $0.insert(clientId) }
    }

    /// Reads what the logs gained since the last call.
    public func poll() {
        for path in logPaths { poll(path) }
    }

    private func poll(_ logPath: String) {
        state.withLock { state in
            for line in state.followers[logPath, default: LogFollower(path: logPath)].newLines() {
                Self.apply(line, to: &state.subscriptions[logPath, default: [:]])
            }
        }
    }

    static func apply(_ rawLine: String, to subscriptions: inout [String: Set<String>]) {
        // Strip the "<timestamp>: " prefix mosquitto writes with log_timestamp.
        var line = Substring(rawLine)
        if let colon = line.range(of: ": ") { line = line[colon.upperBound...] }
        if line.hasPrefix("mosquitto version ") && (line.hasSuffix(" starting") || line.hasSuffix(" terminating")) {
            subscriptions.removeAll()  // the broker (re)started or stopped: nobody is subscribed to it
            return
        }
        if line.hasPrefix("Client ") && (line.hasSuffix(" disconnected.") || line.contains(" disconnected: ") || line.contains(" disconnected due to ")
                                         || line.contains(" closed its connection") || line.contains(" has exceeded timeout")
                                         || line.contains(" already connected, closing old connection")) {
            let id = line.dropFirst("Client ".count).split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
            subscriptions[id] = nil
            return
        }
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 3, ["0", "1", "2"].contains(parts[1]), !parts[0].isEmpty, !parts[2].isEmpty {
            subscriptions[parts[0], default: []].insert(parts[2])
        } else if parts.count == 2, parts[1].hasPrefix("/") || parts[1] == "#" {
            subscriptions[parts[0]]?.remove(parts[1])
        }
    }

    /// The clients (other than ignored ones) with a subscription that receives messages on `topic`.
    public func subscribers(of topic: String) -> [String] {
        poll()
        let ignored = self.ignored.withLock { $0 }
        return state.withLock { state in
            Set(state.subscriptions.values.flatMap { subscriptions in
                subscriptions.filter { client, filters in
                    !ignored.contains(client) && !client.hasPrefix(BrokerNetwork.bridgePrefix) && filters.contains { Self.mqttMatches(filter: $0, topic: topic) }
                }.keys
            }).sorted()
        }
    }

    /// Waits until a client subscribes to something that receives `topic`, at most `timeout`.
    /// Returns the subscribers, or throws `WaitError.timedOut`.
    @discardableResult
    public func waitForSubscriber(of topic: String, timeout: Duration) async throws -> [String] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let found = subscribers(of: topic)
            if !found.isEmpty { return found }
            guard clock.now < deadline else { throw WaitError.timedOut(topic: topic, timeout: timeout) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Why waiting ended without a subscriber.
    public enum WaitError: Error, CustomStringConvertible {
        case timedOut(topic: String, timeout: Duration)
        public var description: String {
            switch self {
            case .timedOut(let topic, let timeout):
                return "no client subscribed to \(topic) within \(timeout) — start the subscriber, or raise settings.subscriberTimeout"
            }
        }
    }

    /// MQTT filter matching (`+` one level, `#` the rest).
    public static func mqttMatches(filter: String, topic: String) -> Bool {
        if filter == topic || filter == "#" { return true }
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in filterLevels.enumerated() {
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
        }
        return filterLevels.count == topicLevels.count
    }
}
