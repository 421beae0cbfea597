import DXL
import Foundation
import Logging
import TIE

/// Plays scenario timelines on a DXL fabric: each step's events, at its offset or after its delay,
/// repeated at its rate, across its generated agents, after waiting for a subscriber when asked.
///
/// Memory does not grow with a timeline's length: events are built one at a time and the player waits
/// whenever more than `sendWindow` of them are queued unsent (flow control), so it never outruns the
/// connection. Threading: one `play` at a time per player; any task may call it.
public final class ScenarioPlayer: Sendable {
    /// What the player reports as it goes.
    public struct Progress: Sendable {
        public var scenario: String
        public var step: String
        public var sent: Int
        public var total: Int
        public var finished: Bool
    }

    /// One step played.
    public struct StepResult: Sendable {
        public var scenario: String
        public var step: String
        public var line: Int
        public var source: String
        public var topic: String
        public var sent: Int
        public var started: Date
        public var duration: Duration
        public var error: String?
    }

    /// Why playing stopped.
    public enum PlayError: Error, CustomStringConvertible {
        case noSubscriber(scenario: String, step: String, line: Int, reason: String)
        case send(scenario: String, step: String, reason: String)
        public var description: String {
            switch self {
            case .noSubscriber(let scenario, let step, let line, let reason):
                return "\(scenario): step '\(step)' (line \(line)): \(reason)"
            case .send(let scenario, let step, let reason):
                return "\(scenario): step '\(step)': could not send: \(reason)"
            }
        }
    }

    /// The clients steps publish through: broker 1's first, then one per further broker of a bridged fabric.
    private let clients: [DXLClient]
    private let store: ReputationStore
    private let watcher: SubscriptionWatcher?
    private let logger: Logger
    private let progress: (@Sendable (Progress) -> Void)?
    private let journal: Journal?
    /// Stops a broker (1-based) for the given time and starts it again (only when tiesim runs the brokers).
    private let brokerOutage: (@Sendable (Int, Duration) async throws -> Void)?
    /// How many events may wait unsent before the player pauses.
    public let sendWindow: Int

    /// A player sending through `client`, changing `store` for reputation-change steps, and waiting
    /// for subscribers through `watcher` (nil: against a fabric tiesim does not run, steps do not wait).
    /// In a bridged fabric, `otherBrokers` are clients of brokers 2, 3, … for steps with `broker:`.
    public init(client: DXLClient, otherBrokers: [DXLClient] = [], store: ReputationStore, watcher: SubscriptionWatcher?, sendWindow: Int = 5_000,
                journal: Journal? = nil, brokerOutage: (@Sendable (Int, Duration) async throws -> Void)? = nil,
                logger: Logger = Logger(label: "tiesim.player"), progress: (@Sendable (Progress) -> Void)? = nil) {
        self.clients = [client] + otherBrokers
        self.brokerOutage = brokerOutage
        self.journal = journal
        self.store = store
        self.watcher = watcher
        self.sendWindow = sendWindow
        self.logger = logger
        self.progress = progress
    }

    /// Plays the timelines of `scenarios` one after another; returns a result per step.
    @discardableResult
    public func play(_ scenarios: [Scenario]) async throws -> [StepResult] {
        var results: [StepResult] = []
        for scenario in scenarios {
            results += try await play(scenario)
        }
        return results
    }

    /// Plays one scenario's timeline.
    public func play(_ scenario: Scenario) async throws -> [StepResult] {
        let clock = ContinuousClock()
        let timelineStart = clock.now
        var previousEnd = timelineStart
        var results: [StepResult] = []
        if watcher == nil, scenario.timeline.contains(where: { $0.waitForSubscriber != nil }) {
            logger.warning("\(scenario.name): tiesim does not run this broker, so steps cannot wait for subscribers; start subscribers first or add after: delays")
        }
        for step in scenario.timeline {
            let start = step.at.map { timelineStart + $0 } ?? (previousEnd + step.after)
            if start > clock.now { try await Task.sleep(until: start, clock: clock) }
            if let topic = step.waitForSubscriber, let watcher {
                logger.info("\(scenario.name): step '\(step.name)' waits for a subscriber of \(topic)")
                do {
                    let subscribers = try await watcher.waitForSubscriber(of: topic, timeout: scenario.settings.subscriberTimeout)
                    logger.debug("subscribers of \(topic): \(subscribers)")
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    throw PlayError.noSubscriber(scenario: scenario.name, step: step.name, line: step.line, reason: String(describing: error))
                }
            }
            let started = Date()
            let stepStart = clock.now
            journal?.recordStep(step.name, topic: step.topic, scenario: scenario.name)
            let sent: Int
            if case .brokerOutage(let outage) = step.action {
                try await outageStep(outage, step: step, scenario: scenario)
                sent = 0
            } else {
                sent = try await run(step, of: scenario, clock: clock)
            }
            previousEnd = clock.now
            results.append(StepResult(scenario: scenario.name, step: step.name, line: step.line, source: scenario.source,
                                      topic: step.topic, sent: sent, started: started, duration: clock.now - stepStart, error: nil))
        }
        return results
    }

    /// The client that publishes `step`'s events (or reconnects after its broker's outage).
    private func client(for step: TimelineStep, of scenario: Scenario) throws -> DXLClient {
        guard step.broker <= clients.count else {
            throw PlayError.send(scenario: scenario.name, step: step.name,
                                 reason: "broker \(step.broker) does not exist: the fabric has \(clients.count) broker\(clients.count == 1 ? "" : "s") (tiesim up --brokers N)")
        }
        return clients[step.broker - 1]
    }

    /// Stops the step's broker for `outage`, starts it again, and waits until this player is reconnected.
    private func outageStep(_ outage: Duration, step: TimelineStep, scenario: Scenario) async throws {
        guard let brokerOutage else {
            throw PlayError.send(scenario: scenario.name, step: step.name, reason: "brokerOutage needs a broker tiesim runs (tiesim up), not an existing fabric")
        }
        let client = try client(for: step, of: scenario)
        let which = clients.count > 1 ? "broker \(step.broker)" : "broker"
        journal?.append(JournalEntry(kind: .fault, time: Date(), offset: .zero, topic: "", messageId: "",
                                     source: scenario.name, payload: .null, note: "\(which) stopped for \(outage)"))
        do {
            try await brokerOutage(step.broker, outage)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw PlayError.send(scenario: scenario.name, step: step.name, reason: "could not restart the broker: \(error)")
        }
        _ = await client.waitUntilConnected(timeout: .seconds(60))
        journal?.append(JournalEntry(kind: .fault, time: Date(), offset: .zero, topic: "", messageId: "",
                                     source: scenario.name, payload: .null, note: "\(which) back, player \(client.isConnected ? "reconnected" : "not reconnected")"))
    }

    private func run(_ step: TimelineStep, of scenario: Scenario, clock: ContinuousClock) async throws -> Int {
        let client = try client(for: step, of: scenario)
        let first = clock.now
        var sent = 0
        let report = max(1, step.count / 20)
        let template = self.template(for: step, scenario: scenario)
        // Generated agent GUIDs cost a SHA-256 each: make the first 100,000 once per step.
        let agentCache = step.agents.map { agents in (0..<min(agents, 100_000, step.count)).map { Generated.agentGuid(seed: scenario.settings.seed, index: $0) } } ?? []
        var second = Int64(Date().timeIntervalSince1970)
        for index in 0..<step.count {
            if step.interval > .zero {
                let due = first + step.interval * index
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
            if index % 256 == 0 {
                try Task.checkCancellation()
                second = Int64(Date().timeIntervalSince1970)
            }
            let bytes: [UInt8]
            if let (template, explicitAgent, explicitTime) = template {
                let now = step.interval > .zero ? Int64(Date().timeIntervalSince1970) : second
                let agentGuid: String
                if let agents = step.agents, !agentCache.isEmpty {
                    agentGuid = index % agents < agentCache.count ? agentCache[index % agents] : Generated.agentGuid(seed: scenario.settings.seed, index: index % agents)
                } else {
                    agentGuid = agent(step, explicit: explicitAgent, index: index, seed: scenario.settings.seed)
                }
                bytes = template.render(agent: agentGuid, time: explicitTime ?? now)
            } else {
                guard let payload = payload(for: step, index: index, scenario: scenario) else { continue }
                bytes = payload.serializedBytes(style: .python)
            }
            do {
                try client.sendEvent(topic: step.topic, payload: bytes)
            } catch .notConnected {
                // The broker is gone: this event is lost (QoS 0), as are any not yet written. Wait for
                // the reconnect (libmosquitto retries with backoff) and go on with the timeline.
                let lostAt = index
                guard await client.waitUntilConnected(timeout: .seconds(120)) else {
                    throw PlayError.send(scenario: scenario.name, step: step.name, reason: "the broker did not come back within 120 s")
                }
                journal?.append(JournalEntry(kind: .fault, time: Date(), offset: .zero, topic: step.topic,
                                             messageId: "", source: scenario.name, payload: .null,
                                             note: "connection to the broker lost at event \(lostAt + 1) of step '\(step.name)'; reconnected, events sent meanwhile are lost"))
                logger.warning("\(scenario.name): lost the broker during step '\(step.name)'; reconnected, continuing")
                continue
            } catch {
                throw PlayError.send(scenario: scenario.name, step: step.name, reason: String(describing: error))
            }
            sent += 1
            if sent % 512 == 0 { await client.waitForSendCapacity(limit: sendWindow) }
            if let progress, step.count > 1, sent % report == 0 || sent == step.count {
                progress(Progress(scenario: scenario.name, step: step.name, sent: sent, total: step.count, finished: sent == step.count))
            }
        }
        await client.waitForSendCapacity(limit: 0)
        if let progress, step.count == 1 {
            progress(Progress(scenario: scenario.name, step: step.name, sent: sent, total: 1, finished: true))
        }
        return sent
    }

    /// A template for steps whose events differ only in agent and time (detections, first instances,
    /// raw events); nil for reputation changes, which change the store on every event.
    private func template(for step: TimelineStep, scenario: Scenario) -> (EventTemplate, String?, Int64?)? {
        switch step.action {
        case .detection(let spec):
            let value = TiePayloads.detection(hashes: hashes(of: spec.file, in: scenario), agentGuid: EventTemplate.agentMarker, detectionTime: 0,
                                              localReputation: spec.localReputation, name: spec.name ?? spec.file, remediationAction: spec.remediationAction, extra: spec.extra)
            var marked = value
            marked["detectionTime"] = .string(EventTemplate.timeMarker)
            return (EventTemplate(marked), spec.agentGuid, spec.detectionTime)
        case .firstInstance(let spec):
            return (EventTemplate(TiePayloads.firstInstance(hashes: hashes(of: spec.file, in: scenario), agentGuid: EventTemplate.agentMarker,
                                                            name: spec.name ?? spec.file, extra: spec.extra)), spec.agentGuid, nil)
        case .event(_, let payload):
            return (EventTemplate(payload), nil, nil)
        case .fileReputationChange, .certificateReputationChange, .brokerOutage:
            return nil
        }
    }

    private func agent(_ step: TimelineStep, explicit: String?, index: Int, seed: String) -> String {
        if let agents = step.agents { return Generated.agentGuid(seed: seed, index: index % agents) }
        return explicit ?? Generated.agentGuid(seed: seed, index: 0)
    }

    private func hashes(of name: String, in scenario: Scenario) -> [(type: String, hex: String)] {
        if let record = store.file(named: name) { return record.hashes }
        return scenario.file(named: name)?.hashes ?? []
    }

    /// The event body for the `index`-th event of `step`.
    /// With `applying` false a reputation-change step's event is made without changing the store (what the
    /// event would say, for a test's expectations); the player applies the change as it plays the step.
    public func payload(for step: TimelineStep, index: Int, scenario: Scenario, applying: Bool = true) -> JSONValue? {
        let now = Int64(Date().timeIntervalSince1970)
        switch step.action {
        case .detection(let spec):
            return TiePayloads.detection(
                hashes: hashes(of: spec.file, in: scenario),
                agentGuid: agent(step, explicit: spec.agentGuid, index: index, seed: scenario.settings.seed),
                detectionTime: spec.detectionTime ?? now, localReputation: spec.localReputation,
                name: spec.name ?? spec.file, remediationAction: spec.remediationAction, extra: spec.extra
            )
        case .firstInstance(let spec):
            return TiePayloads.firstInstance(
                hashes: hashes(of: spec.file, in: scenario),
                agentGuid: agent(step, explicit: spec.agentGuid, index: index, seed: scenario.settings.seed),
                name: spec.name ?? spec.file, extra: spec.extra
            )
        case .fileReputationChange(let spec):
            let time = spec.updateTime ?? now
            guard let record = store.file(named: spec.subject) ?? scenario.file(named: spec.subject).map({ file in
                ReputationStore.FileRecord(name: file.name, md5: file.md5, sha1: file.sha1, sha256: file.sha256,
                                           reputations: Dictionary(file.reputations.map { ($0.providerId, $0) }, uniquingKeysWith: { _, b in b }),
                                           firstReferences: file.firstReferences, certificate: file.certificate, defined: true)
            }) else { return nil }
            let change: (old: ReputationStore.FileRecord, new: ReputationStore.FileRecord)
            if applying {
                guard let applied = try? store.setFileReputation(hashes: record.hashes, providerId: spec.providerId, trustLevel: spec.trustLevel, filename: record.name, now: time) else { return nil }
                change = applied
            } else {
                var new = record
                new.reputations[spec.providerId] = ReputationStore.changed(record.reputations[spec.providerId], provider: spec.providerId, trustLevel: spec.trustLevel, now: time)
                change = (record, new)
            }
            let certificate = change.new.certificate.flatMap { store.certificate(named: $0) }
            return TiePayloads.fileReputationChange(old: change.old.name.isEmpty ? record : change.old, new: change.new, certificate: certificate, updateTime: time)
        case .certificateReputationChange(let spec):
            let time = spec.updateTime ?? now
            guard let known = store.certificate(named: spec.subject) ?? scenario.certificate(named: spec.subject).map({ cert in
                ReputationStore.CertificateRecord(name: cert.name, sha1: cert.sha1, publicKeySha1: cert.publicKeySha1,
                                                  reputations: Dictionary(cert.reputations.map { ($0.providerId, $0) }, uniquingKeysWith: { _, b in b }),
                                                  firstReferences: cert.firstReferences, defined: true)
            }) else { return nil }
            var change = (old: known, new: known)
            if applying {
                change = store.setCertificateReputation(sha1: known.sha1, publicKeySha1: known.publicKeySha1, providerId: spec.providerId, trustLevel: spec.trustLevel, now: time)
            } else {
                change.new.reputations[spec.providerId] = ReputationStore.changed(known.reputations[spec.providerId], provider: spec.providerId, trustLevel: spec.trustLevel, now: time)
            }
            return TiePayloads.certificateReputationChange(old: change.old.name.isEmpty ? known : change.old, new: change.new, updateTime: time)
        case .event(_, let payload):
            return payload
        case .brokerOutage:
            return nil
        }
    }
}
