import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

// What a run must (not) do: `expect:`.
extension ScenarioParser {
    /// dxltieclient method names usable instead of request topics.
    static let requestNames: [String: String] = [
        "get_file_reputation": TieTopic.getFileReputation, "set_file_reputation": TieTopic.setFileReputation,
        "get_certificate_reputation": TieTopic.getCertificateReputation, "set_certificate_reputation": TieTopic.setCertificateReputation,
        "get_file_first_references": TieTopic.getFileFirstReferences, "get_certificate_first_references": TieTopic.getCertificateFirstReferences,
        "register_service": ServiceRegistryTopic.register, "unregister_service": ServiceRegistryTopic.unregister,
    ]
    /// Event names usable instead of event topics.
    static let eventNames: [String: String] = [
        "detection": TieTopic.fileDetection, "first_instance": TieTopic.fileFirstInstance,
        "file_reputation_change": TieTopic.fileReputationChange, "certificate_reputation_change": TieTopic.certificateReputationChange,
        "external_report": TieTopic.externalFileReport, "set_external_file_reputation": TieTopic.externalFileReport,
    ]
    static let expectationKeys = ["name", "request", "event", "where", "count", "within", "after"]
    static let matcherKeys = ["equals", "contains", "regex", ">", ">=", "<", "<=", "!=", "file"]

    mutating func expectations(_ node: YAMLNode, scenario: Scenario) -> [Expectation] {
        guard let items = sequence(node, "expect", depth: 1) else { return [] }
        var result: [Expectation] = []
        for item in items {
            guard let fields = mapping(item, "an expectation", depth: 2) else { continue }
            checkKeys(fields, allowed: Self.expectationKeys, in: "an expectation")
            let field = { (key: String) in fields.first { $0.key == key }?.value }
            var kind = Expectation.Kind.request
            var topicNode: YAMLNode?
            switch (field("request"), field("event")) {
            case (let request?, nil): topicNode = request
            case (nil, let event?): topicNode = event; kind = .event
            case (nil, nil):
                issue(item, "an expectation needs request: or event:", "name the request (a topic or a dxltieclient method such as set_file_reputation) or the event")
                continue
            default:
                issue(field("event"), "an expectation watches a request or an event, not both", "split it into two expectations")
                continue
            }
            guard let topicNode, let text = string(topicNode, kind == .request ? "request" : "event") else { continue }
            let names = kind == .request ? Self.requestNames : Self.eventNames
            let topic: String
            if let named = names[text] {
                topic = named
            } else if text.hasPrefix("/") || text == "#" {
                topic = text
            } else {
                issue(topicNode, "unknown \(kind.rawValue) '\(text)'", DidYouMean.hint(for: text, among: names.keys.sorted(), what: "a \(kind.rawValue) (or a topic starting with /)"))
                continue
            }
            var expectation = Expectation(name: "\(kind.rawValue) \(text)", source: file, line: item.line, column: item.column,
                                          kind: kind, topic: topic, conditions: [], count: .atLeast(1), within: nil, afterStep: nil)
            if let node = field("name"), let name = string(node, "name") { expectation.name = name }
            if let node = field("within") { expectation.within = duration(node, "within") }
            if let node = field("after"), let step = string(node, "after") {
                if scenario.timeline.contains(where: { $0.name == step }) {
                    expectation.afterStep = step
                } else {
                    issue(node, "no step is named '\(step)'", scenario.timeline.isEmpty ? "add name: to the step" : DidYouMean.hint(for: step, among: scenario.timeline.map(\.name), what: "a step name"))
                }
            }
            if let node = field("count") { expectation.count = count(node) ?? expectation.count }
            if let node = field("where"), let conditions = mapping(node, "where", depth: 3) {
                for condition in conditions {
                    if let matcher = matcher(condition.value, scenario: scenario) { expectation.conditions.append((condition.key, matcher)) }
                }
            }
            result.append(expectation)
        }
        return result
    }

    mutating func count(_ node: YAMLNode) -> Expectation.Count? {
        if case .scalar = node.content {
            guard let value = int(node, "count", range: 0...Int64(Int32.max)) else { return nil }
            return .exactly(Int(value))
        }
        guard let entries = mapping(node, "count", depth: 3), entries.count == 1, let entry = entries.first else {
            issue(node, "count must be a number or one of exactly:, atLeast:, atMost:", "e.g. count: {atLeast: 1}")
            return nil
        }
        guard let value = int(entry.value, "count", range: 0...Int64(Int32.max)) else { return nil }
        switch entry.key {
        case "exactly": return .exactly(Int(value))
        case "atLeast": return .atLeast(Int(value))
        case "atMost": return .atMost(Int(value))
        default:
            issue(entry.keyNode, "unknown count '\(entry.key)'", DidYouMean.hint(for: entry.key, among: ["exactly", "atLeast", "atMost"], what: "a count"))
            return nil
        }
    }

    mutating func matcher(_ node: YAMLNode, scenario: Scenario) -> Expectation.Matcher? {
        if case .scalar = node.content {
            return json(node, depth: 4).map { .equals($0) }
        }
        guard let entries = mapping(node, "a condition", depth: 4), entries.count == 1, let entry = entries.first else {
            issue(node, "a condition is a value, or one of \(Self.matcherKeys.joined(separator: ", ")) with its value", "e.g. comment: {contains: quarantine}")
            return nil
        }
        switch entry.key {
        case "equals": return json(entry.value, depth: 5).map { .equals($0) }
        case "contains": return string(entry.value, "contains").map { .contains($0) }
        case "regex":
            guard let pattern = string(entry.value, "regex") else { return nil }
            guard (try? NSRegularExpression(pattern: pattern)) != nil else {
                issue(entry.value, "'\(pattern)' is not a regular expression", "check its brackets and escapes")
                return nil
            }
            return .regex(pattern)
        case ">", ">=", "<", "<=", "!=":
            guard let text = string(entry.value, entry.key), let number = Double(text) ?? TrustLevel(name: text).map({ Double($0.rawValue) }) else {
                issue(entry.value, "\(entry.key) needs a number", "e.g. {>=: 10}")
                return nil
            }
            return .compare(entry.key, number)
        case "file":
            guard let name = fileReference(entry.value, scenario: scenario), let file = scenario.file(named: name) else { return nil }
            return .hashOf(file: name, hashes: [file.md5, file.sha1, file.sha256])
        default:
            issue(entry.keyNode, "unknown condition '\(entry.key)'", DidYouMean.hint(for: entry.key, among: Self.matcherKeys, what: "a condition"))
            return nil
        }
    }
}
