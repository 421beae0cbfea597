import DXL
import Foundation
import Synchronization
import TIE

/// Records a fabric — TIE events, and TIE requests with their responses — and writes what it saw as a
/// scenario: knowledge from the responses, a timeline from the events with their original spacing.
/// Threading: any thread; observations arrive on the DXL client's network thread.
public final class Recorder: Sendable {
    private struct State {
        var start: ContinuousClock.Instant?
        var requests: [String: DXLMessage] = [:]  // message id → request
        var events: [(offset: Duration, message: DXLMessage)] = []
        var files: [String: RecordedFile] = [:]  // md5 or first hash → file
        var certificates: [String: RecordedCertificate] = [:]  // sha1 → certificate
    }

    struct RecordedFile {
        var name: String?
        var hashes: [String: String] = [:]
        var reputations: [Int: JSONValue] = [:]
        var references: [JSONValue] = []
    }

    struct RecordedCertificate {
        var sha1: String
        var publicKeySha1: String?
        var reputations: [Int: JSONValue] = [:]
        var references: [JSONValue] = []
    }

    private let state = Mutex(State())
    private let client: DXLClient
    private let topics: [String]

    /// A recorder on its own connection; `topics` are the event topics to record (default: TIE's).
    public init(config: DXLClientConfig, topics: [String] = []) throws {
        var config = config
        config.clientId = "tiesim-recorder-" + UUID().uuidString.lowercased()
        client = try DXLClient(config: config)
        self.topics = topics.isEmpty ? [TieTopic.fileDetection, TieTopic.fileFirstInstance, TieTopic.fileReputationChange, TieTopic.certificateReputationChange] : topics
    }

    /// Connects and starts recording.
    public func start() async throws {
        try await client.connect()
        client.addMessageObserver { [weak self] message in self?.observe(message) }
        for topic in topics { try await client.subscribe(topic) }
        for topic in TieTopic.requestTopics { try await client.subscribe(topic) }
        try await client.subscribe("/mcafee/client/#")  // responses to everyone's requests
    }

    /// Stops recording.
    public func stop() async {
        await client.disconnect()
    }

    /// How many events were recorded.
    public var eventCount: Int { state.withLock { $0.events.count } }

    private func observe(_ message: DXLMessage) {
        state.withLock { state in
            let now = ContinuousClock.now
            switch message.type {
            case .event where topics.contains(where: { DXLTopic.matches(filter: $0, topic: message.destinationTopic) }):
                if state.start == nil { state.start = now }
                state.events.append((now - (state.start ?? now), message))
                if let json = try? JSONValue.parse(message.payload), let hashes = try? json["hashes"].map(HashEncoding.transformHashes) {
                    Self.noteFile(hashes: hashes.objectValue?.compactMapValues(\.stringValue) ?? [:], name: json["name"]?.stringValue, in: &state)
                }
            case .request where TieTopic.requestTopics.contains(message.destinationTopic):
                state.requests[message.messageId] = message
            case .response:
                guard let id = message.requestMessageId, let request = state.requests.removeValue(forKey: id),
                      let body = try? JSONValue.parse(request.payload), let reply = try? JSONValue.parse(message.payload) else { return }
                Self.learn(request: request.destinationTopic, body: body, reply: reply, into: &state)
            default:
                break
            }
        }
    }

    private static func key(_ hashes: [String: String]) -> String? { hashes["md5"] ?? hashes["sha1"] ?? hashes["sha256"] }

    @discardableResult
    private static func noteFile(hashes: [String: String], name: String?, in state: inout State) -> String? {
        guard !hashes.isEmpty else { return nil }
        let existing = state.files.first { _, file in hashes.contains { file.hashes[$0.key] == $0.value } }?.key
        let key = existing ?? Self.key(hashes) ?? ""
        var file = state.files[key] ?? RecordedFile()
        file.hashes.merge(hashes) { _, new in new }
        if file.name == nil, let name, !name.isEmpty { file.name = name }
        state.files[key] = file
        return key
    }

    private static func learn(request topic: String, body: JSONValue, reply: JSONValue, into state: inout State) {
        let hashes = (try? body["hashes"].map(HashEncoding.transformHashes))??.objectValue?.compactMapValues(\.stringValue) ?? [:]
        switch topic {
        case TieTopic.getFileReputation:
            guard let key = noteFile(hashes: hashes, name: nil, in: &state) else { return }
            for reputation in reply["reputations"]?.arrayValue ?? [] {
                if let provider = reputation["providerId"]?.intValue { state.files[key]?.reputations[Int(provider)] = reputation }
            }
        case TieTopic.getFileFirstReferences:
            guard let key = noteFile(hashes: hashes, name: nil, in: &state) else { return }
            state.files[key]?.references = reply["agents"]?.arrayValue ?? []
        case TieTopic.getCertificateReputation, TieTopic.getCertificateFirstReferences:
            guard let sha1 = hashes["sha1"] else { return }
            var certificate = state.certificates[sha1] ?? RecordedCertificate(sha1: sha1)
            if let key = body["publicKeySha1"]?.stringValue, let hex = try? HashEncoding.hex(base64: key) { certificate.publicKeySha1 = hex }
            if topic == TieTopic.getCertificateReputation {
                for reputation in reply["reputations"]?.arrayValue ?? [] {
                    if let provider = reputation["providerId"]?.intValue { certificate.reputations[Int(provider)] = reputation }
                }
            } else {
                certificate.references = reply["agents"]?.arrayValue ?? []
            }
            state.certificates[sha1] = certificate
        default:
            break
        }
    }

    // MARK: Writing the scenario

    static func quote(_ text: String) -> String {
        JSONValue.string(text).serialized()  // JSON strings are valid YAML double-quoted scalars
    }

    static func flow(_ value: JSONValue) -> String {
        value.serialized(style: .python)  // JSON is YAML flow style
    }

    /// The recording as scenario text; `name` names it.
    public func scenarioText(name: String) -> String {
        let snapshot = state.withLock { $0 }
        var names: [String: String] = [:]  // file key → name in the scenario
        var used = Set<String>()
        for (key, file) in snapshot.files.sorted(by: { $0.key < $1.key }) {
            var name = file.name ?? "FILE-\(key.prefix(8))"
            if used.contains(name) { name += "-\(key.prefix(6))" }
            used.insert(name)
            names[key] = name
        }
        func fileName(for hashes: [String: String]) -> String? {
            snapshot.files.first { _, file in hashes.contains { file.hashes[$0.key] == $0.value } }.flatMap { names[$0.key] }
        }
        var lines = ["# Recorded by tiesim record on \(ISO8601DateFormatter().string(from: Date())).",
                     "name: \(Self.quote(name))",
                     "settings:", "  waitForSubscribers: false", ""]
        if !snapshot.certificates.isEmpty {
            lines.append("certificates:")
            for (sha1, certificate) in snapshot.certificates.sorted(by: { $0.key < $1.key }) {
                lines.append("  CERT-\(sha1.prefix(8)):")
                lines.append("    sha1: \(sha1)")
                if let key = certificate.publicKeySha1 { lines.append("    publicKeySha1: \(key)") }
                appendReputations(certificate.reputations, references: certificate.references, to: &lines)
            }
            lines.append("")
        }
        if !snapshot.files.isEmpty {
            lines.append("files:")
            for (key, file) in snapshot.files.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(Self.quote(names[key] ?? key)):")
                for type in ["md5", "sha1", "sha256"] { if let hex = file.hashes[type] { lines.append("    \(type): \(hex)") } }
                appendReputations(file.reputations, references: file.references, to: &lines)
            }
            lines.append("")
        }
        lines.append("timeline:")
        if snapshot.events.isEmpty { lines.append("  []") }
        for (offset, message) in snapshot.events {
            let at = String(format: "%.3fs", offset.inSeconds)
            guard let json = try? JSONValue.parse(message.payload) else { continue }
            let hashes = ((try? json["hashes"].map(HashEncoding.transformHashes)) ?? nil)?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            switch message.destinationTopic {
            case TieTopic.fileDetection where fileName(for: hashes) != nil:
                var fields = ["file: \(Self.quote(fileName(for: hashes) ?? ""))"]
                if let agent = json["agentGuid"]?.stringValue { fields.append("agentGuid: \(Self.quote(agent))") }
                if let time = json["detectionTime"]?.intValue { fields.append("detectionTime: \(time)") }
                if let level = json["localReputation"]?.intValue { fields.append("localReputation: \(level)") }
                if let action = json["remediationAction"]?.intValue { fields.append("remediationAction: \(action)") }
                if let name = json["name"]?.stringValue, name != fileName(for: hashes) { fields.append("name: \(Self.quote(name))") }
                lines.append("  - at: \(at)")
                lines.append("    detection: {\(fields.joined(separator: ", "))}")
            case TieTopic.fileFirstInstance where fileName(for: hashes) != nil:
                var fields = ["file: \(Self.quote(fileName(for: hashes) ?? ""))"]
                if let agent = json["agentGuid"]?.stringValue { fields.append("agentGuid: \(Self.quote(agent))") }
                if let name = json["name"]?.stringValue, name != fileName(for: hashes) { fields.append("name: \(Self.quote(name))") }
                lines.append("  - at: \(at)")
                lines.append("    firstInstance: {\(fields.joined(separator: ", "))}")
            default:
                lines.append("  - at: \(at)")
                lines.append("    event: {topic: \(Self.quote(message.destinationTopic)), payload: \(Self.flow(json))}")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func appendReputations(_ reputations: [Int: JSONValue], references: [JSONValue], to lines: inout [String]) {
        if !reputations.isEmpty {
            lines.append("    reputations:")
            for (provider, reputation) in reputations.sorted(by: { $0.key < $1.key }) {
                var fields = ["trustLevel: \(reputation["trustLevel"]?.intValue ?? 0)"]
                if let date = reputation["createDate"]?.intValue { fields.append("createDate: \(date)") }
                if let attributes = reputation["attributes"]?.objectValue, !attributes.isEmpty {
                    fields.append("attributes: {" + attributes.sorted { $0.key < $1.key }.map { "\(Self.quote($0.key)): \(Self.quote($0.value.stringValue ?? $0.value.description))" }.joined(separator: ", ") + "}")
                }
                lines.append("      \(provider): {\(fields.joined(separator: ", "))}")
            }
        }
        if !references.isEmpty {
            lines.append("    firstReferences:")
            for reference in references {
                lines.append("      - {agentGuid: \(Self.quote(reference["agentGuid"]?.stringValue ?? "")), date: \(reference["date"]?.intValue ?? 0)}")
            }
        }
    }
}
