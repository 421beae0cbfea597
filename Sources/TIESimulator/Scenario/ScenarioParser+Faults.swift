import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

// What the fake TIE gets wrong on purpose: `faults:`.
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
