import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

/// Reads scenario files: YAML into a `YAMLNode` tree (quickly for plain scenario YAML, through Yams for
/// the rest and for every YAML mistake), then every rule checked with the line and column of the
/// offending node. All mistakes are collected and reported together.
///
/// Limits that keep hostile files from exhausting time or memory: `maxFileBytes` on the file,
/// `maxNodes` on the nodes walked (YAML aliases can multiply a small file into a huge tree), and
/// `maxDepth` on nesting.
public enum ScenarioLoader {
    /// Largest scenario file read (64 MiB).
    public static let maxFileBytes = 64 << 20
    /// Most YAML nodes walked in one file, aliases counted each time they are used.
    public static let maxNodes = 2_000_000
    /// Deepest nesting accepted.
    public static let maxDepth = 64

    /// Reads and validates the scenario at `path`.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let attributes else {
            throw ScenarioError(issues: [ScenarioIssue(file: path, line: 1, column: 1, message: "no such scenario file", hint: "check the path (scenarios live in scenarios/*.yaml)")])
        }
        if let size = attributes[.size] as? Int, size > maxFileBytes {
            throw ScenarioError(issues: [ScenarioIssue(file: path, line: 1, column: 1, message: "file is \(size) bytes, more than the \(maxFileBytes)-byte limit for scenarios", hint: "split it, or generate the events with repeat:/agents: instead of listing them")])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError(issues: [ScenarioIssue(file: path, line: 1, column: 1, message: "cannot read the file", hint: "check its permissions")])
        }
        return try parse(data: data, file: path)
    }

    /// Validates scenario bytes as if read from `file`.
    public static func parse(data: Data, file: String) throws(ScenarioError) -> Scenario {
        // Scanned through a buffer: Data's own indexing costs a fifth of a 10 MB load.
        let (nul, text): (Int?, String?) = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            if let nul = bytes.firstIndex(of: 0) { return (nul, nil) }
            return (nil, String(validating: bytes, as: UTF8.self))
        }
        if let nul {
            let (line, column) = position(of: nul, in: data)
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: line, column: column, message: "binary data (a NUL byte) in a scenario file", hint: "scenario files are UTF-8 YAML text")])
        }
        guard let text else {
            var iterator = data.makeIterator()
            var decoder = UTF8()
            var offset = 0
            loop: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar): offset += UTF8.width(scalar)
                case .emptyInput, .error: break loop
                }
            }
            let (line, column) = position(of: offset, in: data)
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: line, column: column, message: "the file is not UTF-8 text", hint: "save it as UTF-8")])
        }
        return try parse(text: text, file: file)
    }

    static func position(of offset: Int, in data: Data) -> (Int, Int) {
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == 0x0a { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    /// Validates scenario text as if read from `file`; steps and expectations may also name the files
    /// and certificates `base` defines (for fragments sent to a running fabric).
    public static func parse(text: String, file: String, base: Scenario? = nil) throws(ScenarioError) -> Scenario {
        let root: YAMLNode?
        do {
            root = try YAMLNode.read(text)
        } catch let limit as YAMLTreeLimit {
            throw ScenarioError(issues: [limitIssue(limit.kind, file: file, line: limit.line, column: limit.column)])
        } catch let error as YamlError {
            throw ScenarioError(issues: [yamlIssue(error, file: file)])
        } catch {
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: 1, column: 1, message: "not valid YAML: \(error)", hint: "check the indentation and quoting")])
        }
        guard let root else {
            throw ScenarioError(issues: [ScenarioIssue(file: file, line: 1, column: 1, message: "the file is empty", hint: "add files: and timeline: (see scenarios/README.md)")])
        }
        var parser = ScenarioParser(file: file)
        parser.base = base
        let scenario = parser.scenario(root)
        if !parser.issues.isEmpty { throw ScenarioError(issues: parser.issues) }
        guard let scenario else { throw ScenarioError(issues: [ScenarioIssue(file: file, line: 1, column: 1, message: "not a scenario", hint: "see scenarios/README.md")]) }
        return scenario
    }

    /// A tree too big (aliases are counted each time they are used) or too deep.
    static func limitIssue(_ kind: YAMLTreeLimit.Kind, file: String, line: Int, column: Int) -> ScenarioIssue {
        switch kind {
        case .nodes:
            return ScenarioIssue(file: file, line: line, column: column, message: "the document expands to more than \(maxNodes) YAML nodes (aliases are counted each time they are used)", hint: "remove the aliases that multiply each other, or use repeat:/agents: to generate events")
        case .depth:
            return ScenarioIssue(file: file, line: line, column: column, message: "nesting deeper than \(maxDepth) levels", hint: "flatten the structure")
        }
    }

    static func yamlIssue(_ error: YamlError, file: String) -> ScenarioIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
            return ScenarioIssue(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(detail)", hint: "check the indentation and quoting here")
        case .reader(let problem, _, let offset, _):
            return ScenarioIssue(file: file, line: 1, column: Int(offset) + 1, message: "unreadable YAML: \(problem)", hint: "save the file as UTF-8 text")
        default:
            return ScenarioIssue(file: file, line: 1, column: 1, message: "not valid YAML: \(error)", hint: "check the indentation and quoting")
        }
    }
}

/// The walker behind `ScenarioLoader`: one per file, collecting issues as it goes.
struct ScenarioParser {
    let file: String
    var issues: [ScenarioIssue] = []
    var nodesSeen = 0
    var budgetExceeded = false
    let loadTime = Int64(Date().timeIntervalSince1970)
    /// Knowledge defined elsewhere that this document may refer to.
    var base: Scenario?

    init(file: String) { self.file = file }

    // MARK: Issue helpers

    mutating func issue(_ node: YAMLNode?, _ message: String, _ hint: String) {
        issues.append(ScenarioIssue(file: file, line: node?.line ?? 1, column: node?.column ?? 1, message: message, hint: hint))
    }

    /// Counts nodes and refuses trees too big or too deep (alias bombs, runaway nesting).
    mutating func admit(_ node: YAMLNode, depth: Int) -> Bool {
        if budgetExceeded { return false }
        nodesSeen += 1
        if nodesSeen > ScenarioLoader.maxNodes {
            budgetExceeded = true
            issues.append(ScenarioLoader.limitIssue(.nodes, file: file, line: node.line, column: node.column))
            return false
        }
        if depth > ScenarioLoader.maxDepth {
            budgetExceeded = true
            issues.append(ScenarioLoader.limitIssue(.depth, file: file, line: node.line, column: node.column))
            return false
        }
        return true
    }

    /// A mapping's entries with string keys, or nil (and an issue) for anything else.
    mutating func mapping(_ node: YAMLNode, _ what: String, depth: Int) -> [(key: String, keyNode: YAMLNode, value: YAMLNode)]? {
        guard admit(node, depth: depth) else { return nil }
        guard case .mapping(let mapping) = node.content else {
            issue(node, "\(what) must be a mapping of key: value lines, not \(describe(node))", "indent its keys under it")
            return nil
        }
        var entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        var seen = Set<String>()
        for pair in mapping {
            let key = pair.key, value = pair.value
            guard admit(key, depth: depth + 1) else { return nil }
            guard let name = key.string else {
                issue(key, "a key of \(what) must be a plain name", "write it as name:")
                continue
            }
            if !seen.insert(name).inserted {
                issue(key, "'\(name)' appears twice in \(what)", "keep one of them")
                continue
            }
            entries.append((name, key, value))
        }
        return entries
    }

    mutating func sequence(_ node: YAMLNode, _ what: String, depth: Int) -> [YAMLNode]? {
        guard admit(node, depth: depth) else { return nil }
        guard case .sequence(let sequence) = node.content else {
            issue(node, "\(what) must be a list (lines starting with '- '), not \(describe(node))", "write each entry on its own line starting with '- '")
            return nil
        }
        return sequence
    }

    mutating func checkKeys(_ entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)], allowed: [String], in what: String) {
        for entry in entries where !allowed.contains(entry.key) {
            issue(entry.keyNode, "unknown key '\(entry.key)' in \(what)", DidYouMean.hint(for: entry.key, among: allowed, what: "a key here"))
        }
    }

    func describe(_ node: YAMLNode) -> String {
        switch node.content {
        case .scalar(let text, _): return "the value '\(text)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    mutating func string(_ node: YAMLNode, _ what: String) -> String? {
        guard admit(node, depth: 0) else { return nil }
        guard let text = node.string else {
            issue(node, "\(what) must be a single value, not \(describe(node))", "write it on the same line after the colon")
            return nil
        }
        return text
    }

    mutating func int(_ node: YAMLNode, _ what: String, range: ClosedRange<Int64>? = nil) -> Int64? {
        guard let text = string(node, what) else { return nil }
        guard let value = Int64(text.replacingOccurrences(of: "_", with: "")) else {
            issue(node, "\(what) must be a whole number, not '\(text)'", "write digits only, e.g. 5")
            return nil
        }
        if let range, !range.contains(value) {
            issue(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), not \(value)", "use a value in that range")
            return nil
        }
        return value
    }

    /// An epoch time in seconds, or an ISO 8601 date-time.
    mutating func epoch(_ node: YAMLNode, _ what: String) -> Int64? {
        guard let text = string(node, what) else { return nil }
        if let value = Int64(text) { return value }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970) }
        issue(node, "\(what) must be epoch seconds or an ISO 8601 time, not '\(text)'", "e.g. 1481301796 or 2016-12-09T16:43:16Z")
        return nil
    }

    /// The longest duration or interval a scenario may name: 30 days. Longer ones cannot be meant, and
    /// past about 292 years they no longer fit a `Duration` in milliseconds.
    static let longestDuration: Double = 30 * 86_400

    /// A duration: `500ms`, `2s`, `1.5m`, `1h`, or a number of seconds (at most 30 days).
    mutating func duration(_ node: YAMLNode, _ what: String) -> Duration? {
        guard let text = string(node, what) else { return nil }
        guard let seconds = Self.durationSeconds(text) else {
            issue(node, "\(what) '\(text)' is not a duration", "write a number with a unit: 500ms, 2s, 1.5m or 1h")
            return nil
        }
        guard seconds <= Self.longestDuration else {
            issue(node, "\(what) '\(text)' is longer than 30 days", "write at most 720h (a scenario's times are meant for test runs)")
            return nil
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The duration `text` names, in seconds (not range-checked); nil when it is not one.
    static func durationSeconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where trimmed.hasSuffix(unit) {
            let number = trimmed.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
            if let value = Double(number), value >= 0, value.isFinite { return value * scale }
            return nil
        }
        if let value = Double(trimmed), value >= 0, value.isFinite { return value }
        return nil
    }

    /// A rate, `100/s`, `30/m`, or events per second; returns the interval between events (from 1 µs,
    /// a million a second, to 30 days).
    mutating func rateInterval(_ node: YAMLNode) -> Duration? {
        guard let text = string(node, "rate") else { return nil }
        let parts = text.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }
        let perSecond: Double?
        if parts.count == 2, let count = Double(parts[0]) {
            switch parts[1] {
            case "s", "sec", "second": perSecond = count
            case "m", "min", "minute": perSecond = count / 60
            case "h", "hour": perSecond = count / 3600
            default: perSecond = nil
            }
        } else if parts.count == 1 {
            perSecond = Double(parts[0])
        } else {
            perSecond = nil
        }
        guard let perSecond, perSecond > 0, perSecond.isFinite else {
            issue(node, "rate '\(text)' is not a rate", "write events per time unit: 100/s, 30/m")
            return nil
        }
        guard perSecond <= 1_000_000, 1 / perSecond <= Self.longestDuration else {
            issue(node, "rate '\(text)' is out of range", "write from 1,000,000/s down to one event in 30 days (e.g. 100/s, 1/h)")
            return nil
        }
        return .nanoseconds(Int64((1e9 / perSecond).rounded()))
    }

    mutating func trustLevel(_ node: YAMLNode, _ what: String = "trust level") -> Int? {
        guard let text = string(node, what) else { return nil }
        if let number = Int(text) {
            if TrustLevel(rawValue: number) != nil { return number }
            issue(node, "\(number) is not a TIE trust level", "use one of \(TrustLevel.allCases.map { "\($0.rawValue)" }.joined(separator: ", ")) or a name such as KNOWN_MALICIOUS")
            return nil
        }
        if let level = TrustLevel(name: text) { return level.rawValue }
        issue(node, "unknown trust level '\(text)'", DidYouMean.hint(for: text.uppercased(), among: TrustLevel.names, what: "a trust level"))
        return nil
    }

    mutating func provider(_ node: YAMLNode, certificate: Bool) -> Int? {
        guard let text = string(node, "provider") else { return nil }
        if let number = Int(text) {
            let valid = certificate ? CertProvider(rawValue: number) != nil : FileProvider(rawValue: number) != nil
            if valid { return number }
            let ids = certificate ? CertProvider.allCases.map { "\($0.rawValue) (\($0.name))" } : FileProvider.allCases.map { "\($0.rawValue) (\($0.name))" }
            issue(node, "\(number) is not a \(certificate ? "certificate" : "file") reputation provider", "use one of \(ids.joined(separator: ", "))")
            return nil
        }
        if certificate, let provider = CertProvider(name: text) { return provider.rawValue }
        if !certificate, let provider = FileProvider(name: text) { return provider.rawValue }
        let names = certificate ? CertProvider.names : FileProvider.names
        issue(node, "unknown \(certificate ? "certificate" : "file") reputation provider '\(text)'", DidYouMean.hint(for: text.uppercased(), among: names, what: "a provider"))
        return nil
    }

    mutating func hash(_ node: YAMLNode, _ type: HashType) -> String? {
        guard let text = string(node, type.rawValue) else { return nil }
        let hex = text.utf8.contains(where: { (65...70).contains($0) }) ? text.lowercased() : text
        let expected = type.byteCount * 2
        guard hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            issue(node, "\(type.rawValue) '\(text)' is not hexadecimal", "write the digest as \(expected) hex digits (0-9, a-f)")
            return nil
        }
        guard hex.utf8.count == expected else {
            issue(node, "\(type.rawValue) has \(hex.utf8.count) hex digits; a \(type.rawValue) has \(expected)", "check that the whole digest was copied")
            return nil
        }
        return hex
    }

    /// A YAML value as JSON (plain scalars typed as YAML resolves them; quoted ones stay strings).
    mutating func json(_ node: YAMLNode, depth: Int) -> JSONValue? {
        guard admit(node, depth: depth) else { return nil }
        switch node.content {
        case .scalar(let text, let plain):
            if !plain { return .string(text) }
            if text == "null" || text == "~" || text.isEmpty { return .null }
            if text == "true" || text == "True" { return .bool(true) }
            if text == "false" || text == "False" { return .bool(false) }
            if let value = Int64(text) { return .int(value) }
            if let value = Double(text), text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(value) }
            return .string(text)
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            for element in sequence {
                guard let value = json(element, depth: depth + 1) else { return nil }
                elements.append(value)
            }
            return .array(elements)
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for pair in mapping {
                let key = pair.key, value = pair.value
                guard let name = key.string else {
                    issue(key, "JSON object keys must be plain names", "write it as name:")
                    return nil
                }
                guard let converted = json(value, depth: depth + 1) else { return nil }
                members[name] = converted
            }
            return .object(members)
        }
    }

    // MARK: The document

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
        if value("files") == nil && value("certificates") == nil && value("timeline") == nil && value("expect") == nil {
            issue(root, "the scenario defines no files, certificates or timeline", "add at least one of files:, certificates: or timeline: (see scenarios/README.md)")
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
                // tiesim's own clients (the fake TIE, the player) always pass, as the broker's own services do.
                let rule = TopicAuthorization.Rule(topic: topic.key, clients: Set(clients + ["tiesim"]))
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

    // MARK: Knowledge

    mutating func reputations(_ node: YAMLNode, certificate: Bool, defaultCreateDate: Int64) -> [Reputation] {
        guard let entries = mapping(node, "reputations", depth: 3) else { return [] }
        var result: [Reputation] = []
        for entry in entries {
            guard let providerId = provider(entry.keyNode, certificate: certificate) else { continue }
            if case .scalar = entry.value.content {
                if let level = trustLevel(entry.value) {
                    result.append(Reputation(providerId: providerId, trustLevel: level, createDate: defaultCreateDate))
                }
                continue
            }
            guard let fields = mapping(entry.value, "the reputation of \(entry.key)", depth: 4) else { continue }
            checkKeys(fields, allowed: ["trustLevel", "createDate", "attributes"], in: "a reputation")
            var reputation = Reputation(providerId: providerId, trustLevel: TrustLevel.notSet.rawValue, createDate: defaultCreateDate)
            var hasLevel = false
            for field in fields {
                switch field.key {
                case "trustLevel":
                    if let level = trustLevel(field.value) { reputation.trustLevel = level; hasLevel = true }
                case "createDate":
                    if let date = epoch(field.value, "createDate") { reputation.createDate = date }
                case "attributes":
                    reputation.attributes = attributes(field.value)
                default: break
                }
            }
            if !hasLevel && !fields.contains(where: { $0.key == "trustLevel" }) {
                issue(entry.keyNode, "the reputation of \(entry.key) has no trustLevel", "add trustLevel: (a name such as KNOWN_TRUSTED or a number)")
            }
            result.append(reputation)
        }
        return result
    }

    mutating func attributes(_ node: YAMLNode) -> [String: String] {
        guard let entries = mapping(node, "attributes", depth: 5) else { return [:] }
        var result: [String: String] = [:]
        for entry in entries {
            let id: String
            if Int(entry.key) != nil {
                id = entry.key
            } else if let known = TieAttribute.byName[entry.key.uppercased()] {
                id = known
            } else {
                issue(entry.keyNode, "unknown attribute '\(entry.key)'", DidYouMean.hint(for: entry.key.uppercased(), among: TieAttribute.byName.keys.sorted(), what: "an attribute (or its numeric id)"))
                continue
            }
            if let value = string(entry.value, "attribute \(entry.key)") { result[id] = value }
        }
        return result
    }

    mutating func firstReferences(_ node: YAMLNode) -> [FirstReference] {
        guard let items = sequence(node, "firstReferences", depth: 3) else { return [] }
        var result: [FirstReference] = []
        for item in items {
            guard let fields = mapping(item, "a first reference", depth: 4) else { continue }
            checkKeys(fields, allowed: ["agentGuid", "date"], in: "a first reference")
            var reference = FirstReference(agentGuid: "", date: loadTime)
            for field in fields {
                if field.key == "agentGuid", let guid = string(field.value, "agentGuid") { reference.agentGuid = guid }
                if field.key == "date", let date = epoch(field.value, "date") { reference.date = date }
            }
            if reference.agentGuid.isEmpty {
                issue(item, "a first reference needs an agentGuid", "add agentGuid: \"{…}\"")
                continue
            }
            result.append(reference)
        }
        return result
    }

    static let fileKeys = ["md5", "sha1", "sha256", "reputations", "firstReferences", "createDate", "certificate"]

    mutating func files(_ node: YAMLNode, seed: String, certificates: [CertificateKnowledge]) -> [FileKnowledge] {
        guard let entries = mapping(node, "files", depth: 1) else { return [] }
        var result: [FileKnowledge] = []
        for entry in entries {
            var file = FileKnowledge(name: entry.key, md5: "", sha1: "", sha256: "", line: entry.keyNode.line)
            if entry.value.string?.isEmpty == true {
                result.append(file)  // `NAME:` alone: generated hashes, no reputations
                continue
            }
            guard let fields = mapping(entry.value, "file \(entry.key)", depth: 2) else { continue }
            checkKeys(fields, allowed: Self.fileKeys, in: "file \(entry.key)")
            var createDate = loadTime
            if let node = fields.first(where: { $0.key == "createDate" })?.value, let date = epoch(node, "createDate") { createDate = date }
            for field in fields {
                switch field.key {
                case "md5": if let hex = hash(field.value, .md5) { file.md5 = hex }
                case "sha1": if let hex = hash(field.value, .sha1) { file.sha1 = hex }
                case "sha256": if let hex = hash(field.value, .sha256) { file.sha256 = hex }
                case "reputations": file.reputations = reputations(field.value, certificate: false, defaultCreateDate: createDate)
                case "firstReferences": file.firstReferences = firstReferences(field.value)
                case "certificate":
                    if let name = string(field.value, "certificate") {
                        if certificates.contains(where: { $0.name == name }) {
                            file.certificate = name
                        } else {
                            issue(field.value, "unknown certificate '\(name)'", certificates.isEmpty ? "define it under certificates:" : DidYouMean.hint(for: name, among: certificates.map(\.name), what: "a certificate"))
                        }
                    }
                default: break
                }
            }
            result.append(file)
        }
        // Hashes left out are generated from the seed (only then: hashing costs time on big files).
        for index in result.indices {
            if result[index].md5.isEmpty { result[index].md5 = Generated.hash(seed: seed, name: result[index].name, type: .md5) }
            if result[index].sha1.isEmpty { result[index].sha1 = Generated.hash(seed: seed, name: result[index].name, type: .sha1) }
            if result[index].sha256.isEmpty { result[index].sha256 = Generated.hash(seed: seed, name: result[index].name, type: .sha256) }
        }
        return result
    }

    mutating func certificates(_ node: YAMLNode, seed: String) -> [CertificateKnowledge] {
        guard let entries = mapping(node, "certificates", depth: 1) else { return [] }
        var result: [CertificateKnowledge] = []
        for entry in entries {
            var certificate = CertificateKnowledge(
                name: entry.key, sha1: Generated.hash(seed: seed, name: "cert:" + entry.key, type: .sha1),
                publicKeySha1: Generated.hash(seed: seed, name: "key:" + entry.key, type: .sha1),
                reputations: [], firstReferences: [], line: entry.keyNode.line
            )
            guard let fields = mapping(entry.value, "certificate \(entry.key)", depth: 2) else { continue }
            checkKeys(fields, allowed: ["sha1", "publicKeySha1", "reputations", "firstReferences", "createDate"], in: "certificate \(entry.key)")
            var createDate = loadTime
            if let node = fields.first(where: { $0.key == "createDate" })?.value, let date = epoch(node, "createDate") { createDate = date }
            for field in fields {
                switch field.key {
                case "sha1": if let hex = hash(field.value, .sha1) { certificate.sha1 = hex }
                case "publicKeySha1": if let hex = hash(field.value, .sha1) { certificate.publicKeySha1 = hex }
                case "reputations": certificate.reputations = reputations(field.value, certificate: true, defaultCreateDate: createDate)
                case "firstReferences": certificate.firstReferences = firstReferences(field.value)
                default: break
                }
            }
            result.append(certificate)
        }
        return result
    }

    // MARK: Timeline

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
            guard topic.hasPrefix("/") || !topic.isEmpty else { return nil }
            let payload = field("payload").flatMap { json($0, depth: 4) } ?? .object([:])
            return .event(topic: topic, payload: payload)
        default:
            return nil
        }
    }
}

extension ScenarioParser {
    /// dxltieclient method names usable instead of request topics.
    static let requestNames: [String: String] = [
        "get_file_reputation": TieTopic.getFileReputation, "set_file_reputation": TieTopic.setFileReputation,
        "get_certificate_reputation": TieTopic.getCertificateReputation, "set_certificate_reputation": TieTopic.setCertificateReputation,
        "get_file_first_references": TieTopic.getFileFirstReferences, "get_certificate_first_references": TieTopic.getCertificateFirstReferences,
        "register_service": "/mcafee/service/dxl/svcregistry/register", "unregister_service": "/mcafee/service/dxl/svcregistry/unregister",
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
            var kind = JournalEntry.Kind.request
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

extension ScenarioParser {
    static let faultKeys = ["name", "request", "file", "certificate", "delay", "error", "drop", "malformed", "times"]

    mutating func faults(_ node: YAMLNode, scenario: Scenario) -> [Fault] {
        guard let items = sequence(node, "faults", depth: 1) else { return [] }
        var result: [Fault] = []
        for item in items {
            guard let fields = mapping(item, "a fault", depth: 2) else { continue }
            checkKeys(fields, allowed: Self.faultKeys, in: "a fault")
            let field = { (key: String) in fields.first { $0.key == key }?.value }
            var topic = "#"
            if let node = field("request"), let text = string(node, "request") {
                if let named = Self.requestNames[text] { topic = named } else if text.hasPrefix("/") || text == "#" { topic = text } else {
                    issue(node, "unknown request '\(text)'", DidYouMean.hint(for: text, among: Self.requestNames.keys.sorted(), what: "a request (or a topic starting with /)"))
                    continue
                }
            }
            var hashes: [String]?
            if let node = field("file") {
                guard let name = fileReference(node, scenario: scenario), let file = scenario.file(named: name) else { continue }
                hashes = [file.md5, file.sha1, file.sha256]
            }
            if let node = field("certificate"), let name = string(node, "certificate") {
                guard let certificate = scenario.certificate(named: name) else {
                    issue(node, "unknown certificate '\(name)'", "define it under certificates:")
                    continue
                }
                hashes = [certificate.sha1]
            }
            let effects = fields.filter { ["delay", "error", "drop", "malformed"].contains($0.key) }
            guard effects.count == 1, let effectEntry = effects.first else {
                issue(item, effects.isEmpty ? "this fault does nothing" : "a fault does one thing; this one has \(effects.map(\.key).joined(separator: " and "))",
                      "give it one of delay:, error:, drop:, malformed:")
                continue
            }
            let effect: Fault.Effect
            switch effectEntry.key {
            case "delay":
                if case .scalar = effectEntry.value.content {
                    guard let delay = duration(effectEntry.value, "delay") else { continue }
                    effect = .delay(min: delay, max: delay)
                } else {
                    guard let range = mapping(effectEntry.value, "delay", depth: 3) else { continue }
                    checkKeys(range, allowed: ["min", "max"], in: "a delay range")
                    guard let minNode = range.first(where: { $0.key == "min" })?.value, let maxNode = range.first(where: { $0.key == "max" })?.value,
                          let low = duration(minNode, "min"), let high = duration(maxNode, "max"), low <= high else {
                        issue(effectEntry.value, "a delay range needs min: and max: with min ≤ max", "e.g. delay: {min: 100ms, max: 2s}")
                        continue
                    }
                    effect = .delay(min: low, max: high)
                }
            case "error":
                var code: Int64 = 0x8000_0002
                var message = "service is overloaded"
                if case .scalar = effectEntry.value.content {
                    guard let text = string(effectEntry.value, "error") else { continue }
                    message = text
                } else if let parts = mapping(effectEntry.value, "error", depth: 3) {
                    checkKeys(parts, allowed: ["code", "message"], in: "an error")
                    if let node = parts.first(where: { $0.key == "code" })?.value, let text = string(node, "code") {
                        let value = text.hasPrefix("0x") ? Int64(text.dropFirst(2), radix: 16) : Int64(text)
                        guard let value else {
                            issue(node, "error code '\(text)' is not a number", "write it in decimal or as 0x80000002")
                            continue
                        }
                        code = value
                    }
                    if let node = parts.first(where: { $0.key == "message" })?.value, let text = string(node, "message") { message = text }
                }
                effect = .error(code: code, message: message)
            case "drop":
                guard let text = string(effectEntry.value, "drop") else { continue }
                let share = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : (text == "true" ? 1 : Double(text))
                guard let share, share >= 0, share <= 1 else {
                    issue(effectEntry.value, "drop must be a share between 0 and 1 (or a percentage), not '\(text)'", "e.g. drop: 0.5 or drop: 50%")
                    continue
                }
                effect = .drop(share: share)
            default:
                effect = .malformed
            }
            var fault = Fault(name: "\(effectEntry.key) (line \(item.line))", topic: topic, hashes: hashes, effect: effect, times: nil, line: item.line)
            if let node = field("name"), let name = string(node, "name") { fault.name = name }
            if let node = field("times"), let times = int(node, "times", range: 1...Int64(Int32.max)) { fault.times = Int(times) }
            result.append(fault)
        }
        return result
    }
}

/// Deterministic stand-ins for what a scenario leaves out: hashes and agent GUIDs derived from the
/// scenario's seed, so that runs repeat.
public enum Generated {
    /// A `type` digest for file `name` under `seed` (hex).
    public static func hash(seed: String, name: String, type: HashType) -> String {
        let digest = SHA256.hash(data: Data("\(seed)|\(name)|\(type.rawValue)".utf8))
        return HashEncoding.hex(Array(digest).prefix(type.byteCount))
    }

    /// Agent number `index` under `seed`, as a `{uuid}` GUID.
    public static func agentGuid(seed: String, index: Int) -> String {
        let bytes = Array(SHA256.hash(data: Data("\(seed)|agent|\(index)".utf8)))
        let hex = HashEncoding.hex(bytes.prefix(16))
        let characters = Array(hex)
        return "{" + String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16]) + "-"
            + String(characters[16..<20]) + "-" + String(characters[20..<32]) + "}"
    }
}
