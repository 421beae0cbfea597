import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

// What TIE knows: files, certificates, their reputations, attributes and first references.
extension ScenarioParser {

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
}
