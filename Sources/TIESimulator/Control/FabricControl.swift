import DXL
import Foundation
import Synchronization
import TIE

/// Why a control command failed; `status` is the HTTP status it maps to.
public struct ControlError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var status: Int
    public var description: String { message }
}

/// What a test in any language can do to a running fabric: load knowledge, play a fragment, reset,
/// read the journal, check expectations. Served over DXL (`ControlService`) and HTTP
/// (`HTTPControlServer`); every reply is JSON. Threading: any task.
public final class FabricControl: Sendable {
    private let store: ReputationStore
    private let tie: FakeTieService
    private let services: FabricServices
    private let journalStore: Journal
    private let initial: [Scenario]
    private let makePlayer: @Sendable () -> ScenarioPlayer
    /// Knowledge loaded at run time, which fragments may refer to.
    private let loaded = Mutex<Scenario>(Scenario(name: "loaded", source: "control"))
    private let playing = Mutex(false)

    /// Control over a fabric's parts; `initial` are the scenarios it started with.
    public init(store: ReputationStore, tie: FakeTieService, services: FabricServices, journal: Journal, initial: [Scenario],
                makePlayer: @escaping @Sendable () -> ScenarioPlayer) {
        self.store = store
        self.tie = tie
        self.services = services
        self.journalStore = journal
        self.initial = initial
        self.makePlayer = makePlayer
        loaded.withLock { $0 = Self.knowledge(of: initial) }
    }

    static func knowledge(of scenarios: [Scenario]) -> Scenario {
        var scenario = Scenario(name: "loaded", source: "control")
        for known in scenarios {
            scenario.files += known.files
            scenario.certificates += known.certificates
            scenario.settings = known.settings
        }
        return scenario
    }

    static func parse(_ text: String, base: Scenario?) throws(ControlError) -> Scenario {
        do {
            return try ScenarioLoader.parse(text: text, file: "control", base: base)
        } catch {
            throw ControlError(message: error.description, status: 422)
        }
    }

    /// Forgets every change: knowledge, faults and journal return to the state at start (services that
    /// clients registered stay: they are live).
    public func reset() -> JSONValue {
        store.reset()
        journalStore.clear()
        tie.unknownHashBehaviour = initial.last?.settings.unknownHashes ?? .realServer
        tie.setFaults(initial.flatMap(\.faults), seed: initial.last?.settings.seed ?? "tiesim")
        loaded.withLock { $0 = Self.knowledge(of: initial) }
        return ["reset": true]
    }

    /// Adds the files and certificates of a scenario document to what the fake TIE knows (and applies
    /// its `unknownHashes` setting).
    public func load(_ text: String) throws(ControlError) -> JSONValue {
        let scenario = try Self.parse(text, base: nil)
        store.load(scenario, keepAfterReset: false)
        if scenario.settings.unknownHashesGiven { tie.unknownHashBehaviour = scenario.settings.unknownHashes }
        tie.addFaults(scenario.faults)
        loaded.withLock { known in
            known.files = known.files.filter { file in !scenario.files.contains { $0.name == file.name } } + scenario.files
            known.certificates = known.certificates.filter { cert in !scenario.certificates.contains { $0.name == cert.name } } + scenario.certificates
        }
        let counts = store.counts
        return ["loaded": ["files": .int(Int64(scenario.files.count)), "certificates": .int(Int64(scenario.certificates.count))],
                "store": ["files": .int(Int64(counts.files)), "certificates": .int(Int64(counts.certificates))]]
    }

    /// Plays the timeline of a scenario document (which may name loaded files) and returns when done.
    public func play(_ text: String) async throws(ControlError) -> JSONValue {
        let scenario = try Self.parse(text, base: loaded.withLock { $0 })
        let busy = playing.withLock { busy in
            defer { busy = true }
            return busy
        }
        guard !busy else { throw ControlError(message: "a timeline is already playing; wait for it to finish", status: 409) }
        defer { playing.withLock { $0 = false } }
        do {
            let steps = try await makePlayer().play(scenario)
            return ["steps": .array(steps.map { ["name": .string($0.step), "topic": .string($0.topic), "sent": .int(Int64($0.sent))] })]
        } catch {
            throw ControlError(message: String(describing: error), status: 500)
        }
    }

    /// The journal (entries after `sinceMs` milliseconds, when given).
    public func journal(sinceMs: Double? = nil, maxBytes: Int? = nil) -> JSONValue {
        // A page: as many entries as fit in `maxBytes` (at least one), and where the next page starts.
        // Every entry takes more than 64 bytes in the reply, so no more than that many are read.
        let (entries, matching) = journalStore.entries(afterMs: sinceMs, count: maxBytes.map { max($0 / 64, 1) } ?? Int.max)
        var page: [JSONValue] = []
        var size = 64
        for entry in entries {
            let json = entry.json
            // Sized only when there is a limit (over DXL): HTTP replies are not paged.
            if let maxBytes {
                size += json.serializedBytes(style: .python).count + 2
                if size > maxBytes, !page.isEmpty { break }
            }
            page.append(json)
        }
        var reply: JSONValue = ["entries": .array(page), "more": .bool(page.count < matching),
                                // Notes the brokers left out past their per-second limit: the journal is partial when this is not 0.
                                "notesLeftOut": .int(Int64(services.notesLeftOut)),
                                // The oldest entries the journal's bounds dropped since the start (or the last reset).
                                "entriesDropped": .int(Int64(journalStore.droppedCount))]
        if page.count < matching {
            reply["nextSinceMs"] = .double(entries[page.count - 1].offset.inSeconds * 1000)
        }
        return reply
    }

    /// Checks the `expect:` section of a scenario document against the journal now.
    public func verify(_ text: String) throws(ControlError) -> JSONValue {
        let scenario = try Self.parse(text, base: loaded.withLock { $0 })
        let entries = journalStore.all
        let results = scenario.expectations.map { ExpectationChecker.evaluate($0, on: entries) }
        return [
            "passed": .bool(results.allSatisfy(\.passed)),
            "results": .array(results.map { ["name": .string($0.expectation.name), "passed": .bool($0.passed), "matched": .int(Int64($0.matched.count)), "message": .string($0.message)] }),
        ]
    }
}
