import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

// The document's top level: its keys, settings, fabric and authorization.
extension ScenarioParser {

    static let topLevelKeys = ["name", "description", "settings", "fabric", "authorization", "files", "certificates", "timeline", "expect", "faults"]

    mutating func scenario(_ root: YAMLNode) -> Scenario? {
        guard let entries = mapping(root, "the scenario", depth: 0) else { return nil }
        checkKeys(entries, allowed: Self.topLevelKeys, in: "the scenario")
        let value = { (key: String) in entries.first { $0.key == key }?.value }
        var scenario = Scenario(
            name: ((file as NSString).lastPathComponent as NSString).deletingPathExtension,
            description: "", source: file, settings: ScenarioSettings(), files: [], certificates: [], timeline: []
        )
        if let node = value("name"), let name = string(node, "name") { scenario.name = name }
        if let node = value("description"), let text = string(node, "description") { scenario.description = text }
        if let node = value("settings") { scenario.settings = settings(node) } else if let base { scenario.settings = base.settings }
        if let node = value("fabric") { scenario.fabric = fabric(node) } else if let base { scenario.fabric = base.fabric }
        if let node = value("authorization") { scenario.authorization = authorization(node) }
        if let node = value("certificates") { scenario.certificates = certificates(node, seed: scenario.settings.seed) }
        if let node = value("files") { scenario.files = files(node, seed: scenario.settings.seed, certificates: scenario.certificates + (base?.certificates ?? [])) }
        if let base {
            scenario.certificates += base.certificates.filter { known in !scenario.certificates.contains { $0.name == known.name } }
            scenario.files += base.files.filter { known in !scenario.files.contains { $0.name == known.name } }
        }
        if let node = value("timeline") { scenario.timeline = timeline(node, scenario: scenario) }
        if let node = value("expect") { scenario.expectations = expectations(node, scenario: scenario) }
        if let node = value("faults") { scenario.faults = faults(node, scenario: scenario) }
        // A document may be only settings or only faults (a fragment loaded at run time); one with none of
        // the sections at all is a mistake (a misspelt key, say).
        if Self.topLevelKeys.allSatisfy({ $0 == "name" || $0 == "description" || value($0) == nil }) {
            issue(root, "the scenario defines nothing", "add at least one of files:, certificates:, timeline:, expect:, faults: or settings: (see scenarios/README.md)")
        }
        return scenario
    }

    static let maximumBrokers = 16

    mutating func fabric(_ node: YAMLNode) -> FabricLayout? {
        guard let entries = mapping(node, "fabric", depth: 1) else { return nil }
        checkKeys(entries, allowed: ["brokers", "topology"], in: "fabric")
        var layout = FabricLayout(brokers: 1, line: node.line)
        for entry in entries {
            switch entry.key {
            case "brokers": if let count = int(entry.value, "brokers", range: 1...Int64(Self.maximumBrokers)) { layout.brokers = Int(count) }
            case "topology":
                if let text = string(entry.value, "topology") {
                    if let topology = BrokerNetwork.Topology(rawValue: text) {
                        layout.topology = topology
                    } else {
                        issue(entry.value, "topology '\(text)' is not a topology", DidYouMean.hint(for: text, among: BrokerNetwork.Topology.allCases.map(\.rawValue), what: "topology"))
                    }
                }
            default: break
            }
        }
        return layout
    }

    /// `authorization: {send: {TOPIC: [CLIENT, …]}, receive: {…}}`: who may send, and who receives, on
    /// the topics named (a trailing `#` covers the topics below; topics not named are open to all).
    mutating func authorization(_ node: YAMLNode) -> TopicAuthorization? {
        guard let entries = mapping(node, "authorization", depth: 1) else { return nil }
        checkKeys(entries, allowed: ["send", "receive"], in: "authorization")
        var result = TopicAuthorization()
        for entry in entries {
            guard let topics = mapping(entry.value, "authorization.\(entry.key)", depth: 2) else { continue }
            for topic in topics {
                guard topic.key.hasPrefix("/") || topic.key == "#" else {
                    issue(topic.keyNode, "'\(topic.key)' is not a topic", "write the DXL topic, starting with / (a trailing # covers the topics below it)")
                    continue
                }
                guard let items = sequence(topic.value, "the clients of \(topic.key)", depth: 3) else { continue }
                let clients = items.compactMap { string($0, "a client certificate name") }
                let rule = TopicAuthorization.Rule(topic: topic.key, clients: Set(clients))
                if entry.key == "send" { result.send.append(rule) } else { result.receive.append(rule) }
            }
        }
        return result
    }

    mutating func settings(_ node: YAMLNode) -> ScenarioSettings {
        var settings = ScenarioSettings()
        guard let entries = mapping(node, "settings", depth: 1) else { return settings }
        checkKeys(entries, allowed: ["seed", "unknownHashes", "waitForSubscribers", "subscriberTimeout"], in: "settings")
        for entry in entries {
            switch entry.key {
            case "seed": if let seed = string(entry.value, "seed") { settings.seed = seed }
            case "unknownHashes":
                if let text = string(entry.value, "unknownHashes") {
                    if let behaviour = UnknownHashBehaviour(rawValue: text) {
                        settings.unknownHashes = behaviour
                        settings.unknownHashesGiven = true
                    } else {
                        issue(entry.value, "unknownHashes '\(text)' is not a behaviour", DidYouMean.hint(for: text, among: UnknownHashBehaviour.allCases.map(\.rawValue), what: "unknownHashes"))
                    }
                }
            case "waitForSubscribers":
                if let text = string(entry.value, "waitForSubscribers") {
                    switch text {
                    case "true", "yes": settings.waitForSubscribers = true
                    case "false", "no": settings.waitForSubscribers = false
                    default: issue(entry.value, "waitForSubscribers must be true or false, not '\(text)'", "write true or false")
                    }
                }
            case "subscriberTimeout": if let duration = duration(entry.value, "subscriberTimeout") { settings.subscriberTimeout = duration }
            default: break
            }
        }
        return settings
    }
}
