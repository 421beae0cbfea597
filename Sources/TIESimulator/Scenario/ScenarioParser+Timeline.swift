import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

// The timeline: steps, their actions and timing modifiers.
extension ScenarioParser {

    static let actionKeys = ["detection", "firstInstance", "fileReputationChange", "certificateReputationChange", "event", "brokerOutage"]
    static let modifierKeys = ["name", "at", "after", "repeat", "rate", "interval", "agents", "waitForSubscriber", "broker"]

    mutating func timeline(_ node: YAMLNode, scenario: Scenario) -> [TimelineStep] {
        guard let items = sequence(node, "timeline", depth: 1) else { return [] }
        var steps: [TimelineStep] = []
        for item in items {
            guard let entries = mapping(item, "a timeline step", depth: 2) else { continue }
            checkKeys(entries, allowed: Self.actionKeys + Self.modifierKeys, in: "a timeline step")
            let actions = entries.filter { Self.actionKeys.contains($0.key) }
            guard actions.count == 1, let actionEntry = actions.first else {
                if actions.isEmpty {
                    issue(item, "this step does nothing", "give it one of: \(Self.actionKeys.joined(separator: ", "))")
                } else {
                    issue(actions[1].keyNode, "a step does one thing; this one has \(actions.map(\.key).joined(separator: " and "))", "split it into one step each")
                }
                continue
            }
            // A step whose action is wrong still has its modifiers checked, so every mistake is reported at once.
            let parsedAction = action(actionEntry, scenario: scenario)
            let line = actionEntry.keyNode.line
            var step = TimelineStep(name: "\(actionEntry.key) (line \(line))", line: line, action: parsedAction ?? .brokerOutage(.zero))
            var hasRate = false
            for entry in entries {
                switch entry.key {
                case "name": if let name = string(entry.value, "name") { step.name = name }
                case "at": step.at = duration(entry.value, "at")
                case "after": if let delay = duration(entry.value, "after") { step.after = delay }
                case "repeat": if let count = int(entry.value, "repeat", range: 1...100_000_000) { step.count = Int(count) }
                case "rate":
                    if hasRate { issue(entry.keyNode, "give either rate: or interval:, not both", "remove one") }
                    if let interval = rateInterval(entry.value) { step.interval = interval }
                    hasRate = true
                case "interval":
                    if hasRate { issue(entry.keyNode, "give either rate: or interval:, not both", "remove one") }
                    if let interval = duration(entry.value, "interval") { step.interval = interval }
                    hasRate = true
                case "agents": if let agents = int(entry.value, "agents", range: 1...10_000_000) { step.agents = Int(agents) }
                case "broker":
                    if let number = int(entry.value, "broker", range: 1...Int64(Self.maximumBrokers)) {
                        let brokers = scenario.fabric?.brokers ?? 1
                        if Int(number) > brokers {
                            issue(entry.value, "broker \(number) does not exist: this scenario's fabric has \(brokers) broker\(brokers == 1 ? "" : "s")",
                                  "add fabric: {brokers: \(number)} at the top, or name a broker from 1 to \(brokers)")
                        } else {
                            step.broker = Int(number)
                        }
                    }
                case "waitForSubscriber":
                    if let text = string(entry.value, "waitForSubscriber") {
                        switch text {
                        case "false", "no": step.waitForSubscriber = nil
                        case "true", "yes": step.waitForSubscriber = step.topic
                        default:
                            if text.hasPrefix("/") || text == "#" { step.waitForSubscriber = text } else {
                                issue(entry.value, "waitForSubscriber must be true, false or a topic, not '\(text)'", "write true to wait for a subscriber of this step's topic")
                            }
                        }
                    }
                default: break
                }
            }
            if case .brokerOutage = step.action { step.waitForSubscriber = nil } else if !entries.contains(where: { $0.key == "waitForSubscriber" }) && scenario.settings.waitForSubscribers {
                step.waitForSubscriber = step.topic
            }
            if parsedAction != nil { steps.append(step) }
        }
        return steps
    }

    mutating func fileReference(_ node: YAMLNode, scenario: Scenario) -> String? {
        guard let name = string(node, "file") else { return nil }
        guard scenario.file(named: name) != nil else {
            issue(node, "unknown file '\(name)'", scenario.files.isEmpty ? "define it under files:" : (DidYouMean.suggestion(for: name, among: scenario.files.map(\.name)).map { "did you mean '\($0)'? (or define it under files:)" } ?? "define it under files:"))
            return nil
        }
        return name
    }

    mutating func action(_ entry: (key: String, keyNode: YAMLNode, value: YAMLNode), scenario: Scenario) -> TimelineStep.Action? {
        if entry.key == "brokerOutage" {
            return duration(entry.value, "brokerOutage").map { .brokerOutage($0) }
        }
        guard let fields = mapping(entry.value, entry.key, depth: 3) else { return nil }
        let field = { (key: String) in fields.first { $0.key == key }?.value }
        switch entry.key {
        case "detection":
            checkKeys(fields, allowed: ["file", "agentGuid", "detectionTime", "localReputation", "remediationAction", "name", "extra"], in: "a detection")
            guard let fileNode = field("file") else {
                issue(entry.keyNode, "a detection needs a file", "add file: <a name under files:>")
                return nil
            }
            guard let file = fileReference(fileNode, scenario: scenario) else { return nil }
            var spec = DetectionSpec(file: file, agentGuid: nil, detectionTime: nil, localReputation: TrustLevel.knownMalicious.rawValue, remediationAction: 5, name: nil, extra: [:])
            if let node = field("agentGuid") { spec.agentGuid = string(node, "agentGuid") }
            if let node = field("detectionTime") { spec.detectionTime = epoch(node, "detectionTime") }
            if let node = field("localReputation"), let level = trustLevel(node, "localReputation") { spec.localReputation = level }
            if let node = field("remediationAction"), let action = int(node, "remediationAction", range: 0...Int64(Int32.max)) { spec.remediationAction = Int(action) }
            if let node = field("name") { spec.name = string(node, "name") }
            if let node = field("extra") { spec.extra = json(node, depth: 4)?.objectValue ?? [:] }
            return .detection(spec)
        case "firstInstance":
            checkKeys(fields, allowed: ["file", "agentGuid", "name", "extra"], in: "a first instance")
            guard let fileNode = field("file") else {
                issue(entry.keyNode, "a first instance needs a file", "add file: <a name under files:>")
                return nil
            }
            guard let file = fileReference(fileNode, scenario: scenario) else { return nil }
            var spec = FirstInstanceSpec(file: file, agentGuid: nil, name: nil, extra: [:])
            if let node = field("agentGuid") { spec.agentGuid = string(node, "agentGuid") }
            if let node = field("name") { spec.name = string(node, "name") }
            if let node = field("extra") { spec.extra = json(node, depth: 4)?.objectValue ?? [:] }
            return .firstInstance(spec)
        case "fileReputationChange", "certificateReputationChange":
            let isCertificate = entry.key == "certificateReputationChange"
            let subjectKey = isCertificate ? "certificate" : "file"
            checkKeys(fields, allowed: [subjectKey, "provider", "trustLevel", "updateTime"], in: "a reputation change")
            guard let subjectNode = field(subjectKey) else {
                issue(entry.keyNode, "a reputation change needs a \(subjectKey)", "add \(subjectKey): <a name under \(isCertificate ? "certificates" : "files"):>")
                return nil
            }
            let subject: String?
            if isCertificate {
                subject = string(subjectNode, "certificate")
                if let name = subject, scenario.certificate(named: name) == nil {
                    issue(subjectNode, "unknown certificate '\(name)'", "define it under certificates:")
                    return nil
                }
            } else {
                subject = fileReference(subjectNode, scenario: scenario)
            }
            guard let subject else { return nil }
            guard let levelNode = field("trustLevel") else {
                issue(entry.keyNode, "a reputation change needs the new trustLevel", "add trustLevel: (e.g. KNOWN_MALICIOUS)")
                return nil
            }
            guard let level = trustLevel(levelNode) else { return nil }
            var provider = isCertificate ? CertProvider.enterprise.rawValue : FileProvider.enterprise.rawValue
            if let node = field("provider") {
                guard let id = self.provider(node, certificate: isCertificate) else { return nil }
                provider = id
            }
            var spec = ReputationChangeSpec(subject: subject, providerId: provider, trustLevel: level, updateTime: nil)
            if let node = field("updateTime") { spec.updateTime = epoch(node, "updateTime") }
            return isCertificate ? .certificateReputationChange(spec) : .fileReputationChange(spec)
        case "event":
            checkKeys(fields, allowed: ["topic", "payload"], in: "an event")
            guard let topicNode = field("topic"), let topic = string(topicNode, "topic") else {
                if field("topic") == nil { issue(entry.keyNode, "an event needs a topic", "add topic: /your/topic") }
                return nil
            }
            guard topic.hasPrefix("/"), topic.count > 1 else {
                issue(topicNode, "'\(topic)' is not a topic to send an event on", "write the DXL topic, starting with /, e.g. topic: /acme/events")
                return nil
            }
            let payload = field("payload").flatMap { json($0, depth: 4) } ?? .object([:])
            return .event(topic: topic, payload: payload)
        default:
            return nil
        }
    }
}
