import DXL
import Foundation
import Logging
import Synchronization
import TIE

/// The fake TIE's last replies to lookups, by topic and request body: a lookup's reply depends only on the
/// store (its generation), the server time (a second) and how unknown hashes are answered (the cache is
/// emptied when that changes), so a request asked again before any of these moves gets the same bytes —
/// without parsing, looking up and serializing again. Bounded: emptied when full.
struct ReplyCache {
    struct Key: Hashable {
        let topic: String
        let body: [UInt8]
    }

    /// The topics whose replies only read the store.
    static let lookupTopics: Set<String> = [TieTopic.getFileReputation, TieTopic.getCertificateReputation,
                                            TieTopic.getFileFirstReferences, TieTopic.getCertificateFirstReferences]
    /// The largest request body kept as a key.
    static let largestBody = 4_096
    static let capacity = 4_096

    private var entries: [Key: (generation: UInt64, second: Int64, reply: [UInt8])] = [:]

    /// The key of `request`, nil when its reply is not kept (a set, or a large body).
    static func key(for request: DXLMessage) -> Key? {
        guard request.payload.count <= largestBody, lookupTopics.contains(request.destinationTopic) else { return nil }
        return Key(topic: request.destinationTopic, body: request.payload)
    }

    func reply(for key: Key, generation: UInt64, second: Int64) -> [UInt8]? {
        guard let entry = entries[key], entry.generation == generation, entry.second == second else { return nil }
        return entry.reply
    }

    mutating func keep(_ reply: [UInt8], for key: Key, generation: UInt64, second: Int64) {
        if entries.count >= Self.capacity && entries[key] == nil { entries.removeAll(keepingCapacity: true) }
        entries[key] = (generation, second, reply)
    }

    mutating func removeAll() { entries.removeAll() }

    var count: Int { entries.count }
}

// The answers to the six request topics, in the real server's shapes, and the change events it broadcasts.
extension FakeTieService {
    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    static func props() -> JSONValue { ["serverTime": .int(now), "submitMetaData": 1] }

    func reputationsReply(_ reputations: [Int: Reputation]) -> Reply {
        .json(TiePayloads.reputationsBlock(reputations, props: Self.props()))
    }

    func getFileReputation(_ body: JSONValue) throws -> Reply {
        let hashes = try hashes(body, allowed: HashType.allCases)
        switch store.file(hashes: hashes) {
        case .found(let record): return reputationsReply(record.reputations)
        case .conflict(let names): throw BadRequest(message: "the hashes belong to different files (\(names.joined(separator: ", ")))")
        case .unknown:
            switch unknownHashBehaviour {
            case .error: return .error(code: Self.tieErrorCode, message: "Could not find reputation")
            case .realServer:
                return reputationsReply(Self.unknownFileReputations(now: Self.now))
            }
        }
    }

    /// What the real server answers for a file it has never seen: GTI unknown, and an enterprise record
    /// with its attributes. A set on such a file changes the enterprise level and keeps the rest.
    static func unknownFileReputations(now: Int64) -> [Int: Reputation] {
        [
            FileProvider.gti.rawValue: Reputation(providerId: FileProvider.gti.rawValue, trustLevel: TrustLevel.unknown.rawValue, createDate: now,
                                                  attributes: [TieAttribute.GTI.originalResponse: "2139160704"]),
            FileProvider.enterprise.rawValue: Reputation(providerId: FileProvider.enterprise.rawValue, trustLevel: TrustLevel.notSet.rawValue, createDate: now, attributes: [
                TieAttribute.FileEnterprise.prevalence: "0", TieAttribute.FileEnterprise.firstContact: String(now),
                TieAttribute.FileEnterprise.enterpriseSize: "1", TieAttribute.FileEnterprise.fileNameCount: "0",
                TieAttribute.serverVersion: serverVersion,
            ]),
        ]
    }

    /// What the real server answers for a certificate it has never seen.
    static func unknownCertificateReputations(now: Int64) -> [Int: Reputation] {
        [
            CertProvider.gti.rawValue: Reputation(providerId: CertProvider.gti.rawValue, trustLevel: TrustLevel.unknown.rawValue, createDate: now,
                                                  attributes: [TieAttribute.GTI.certPrevalence: "0", TieAttribute.GTI.certFirstContact: String(now), TieAttribute.GTI.certRevoked: "0"]),
            CertProvider.enterprise.rawValue: Reputation(providerId: CertProvider.enterprise.rawValue, trustLevel: TrustLevel.notSet.rawValue, createDate: now, attributes: [
                TieAttribute.CertEnterprise.prevalence: "0", TieAttribute.CertEnterprise.firstContact: String(now), TieAttribute.serverVersion: serverVersion,
            ]),
        ]
    }

    /// The reputations an unknown file or certificate starts with when a set creates it: what a lookup
    /// answered just before (the real server's records), or none when unknown hashes are errors.
    func initialReputations(_ make: (Int64) -> [Int: Reputation]) -> [Int: Reputation] {
        unknownHashBehaviour == .realServer ? make(Self.now) : [:]
    }

    func setFileReputation(_ body: JSONValue) throws -> Reply {
        let level = try trustLevel(body)
        let hashes = try hashes(body, allowed: HashType.allCases)
        let filename = try optionalString(body, "filename")
        _ = try optionalString(body, "comment")
        var provider = FileProvider.enterprise.rawValue
        if let value = body["providerId"] {
            guard let id = value.intValue, FileProvider(rawValue: Int(id)) != nil else { throw BadRequest(message: "unknown file provider \(value)") }
            provider = Int(id)
        }
        let change: (old: ReputationStore.FileRecord, new: ReputationStore.FileRecord)
        do {
            change = try store.setFileReputation(hashes: hashes, providerId: provider, trustLevel: level, filename: filename?.isEmpty == false ? filename : nil,
                                                 now: Self.now, initial: initialReputations(Self.unknownFileReputations))
        } catch {
            throw BadRequest(message: String(describing: error))
        }
        broadcastFileChange(change)
        return .json(.object([:]))
    }

    func broadcastFileChange(_ change: (old: ReputationStore.FileRecord, new: ReputationStore.FileRecord)) {
        let certificate = change.new.certificate.flatMap { store.certificate(named: $0) }
        let event = TiePayloads.fileReputationChange(old: change.old, new: change.new, certificate: certificate, updateTime: Self.now)
        send(event, on: TieTopic.fileReputationChange)
    }

    func send(_ value: JSONValue, on topic: String) {
        do {
            let event = DXLMessage.event(topic: topic, payload: value.serializedBytes(style: .python))
            journal?.record(event, kind: .event)
            try client.send(event)
        } catch {
            logger.warning("could not broadcast on \(topic): \(error)")
        }
    }

    func certificateHash(_ body: JSONValue) throws -> String {
        let hashes = try hashes(body, allowed: [.sha1])
        guard hashes.count == 1, let sha1 = hashes.first?.hex else { throw BadRequest(message: "a certificate is looked up by exactly one sha1 hash") }
        return sha1
    }

    func getCertificateReputation(_ body: JSONValue) throws -> Reply {
        let sha1 = try certificateHash(body)
        let key = try publicKey(body)
        if let record = store.certificate(sha1: sha1, publicKeySha1: key) { return reputationsReply(record.reputations) }
        switch unknownHashBehaviour {
        case .error: return .error(code: Self.tieErrorCode, message: "Could not find reputation")
        case .realServer:
            return reputationsReply(Self.unknownCertificateReputations(now: Self.now))
        }
    }

    func setCertificateReputation(_ body: JSONValue) throws -> Reply {
        let level = try trustLevel(body)
        let sha1 = try certificateHash(body)
        let key = try publicKey(body)
        _ = try optionalString(body, "comment")
        var provider = CertProvider.enterprise.rawValue
        if let value = body["providerId"] {
            guard let id = value.intValue, CertProvider(rawValue: Int(id)) != nil else { throw BadRequest(message: "unknown certificate provider \(value)") }
            provider = Int(id)
        }
        let change = store.setCertificateReputation(sha1: sha1, publicKeySha1: key, providerId: provider, trustLevel: level, now: Self.now,
                                                    initial: initialReputations(Self.unknownCertificateReputations))
        send(TiePayloads.certificateReputationChange(old: change.old, new: change.new, updateTime: Self.now), on: TieTopic.certificateReputationChange)
        return .json(.object([:]))
    }

    func agentsReply(_ references: [FirstReference], limit: Int) -> Reply {
        .json(["totalCount": .int(Int64(references.count)), "agents": .array(references.prefix(limit).map(\.json))])
    }

    func fileFirstReferences(_ body: JSONValue) throws -> Reply {
        let limit = try queryLimit(body)
        let hashes = try hashes(body, allowed: HashType.allCases)
        switch store.file(hashes: hashes) {
        case .found(let record): return agentsReply(record.firstReferences, limit: limit)
        case .conflict(let names): throw BadRequest(message: "the hashes belong to different files (\(names.joined(separator: ", ")))")
        case .unknown: return agentsReply([], limit: limit)
        }
    }

    func certificateFirstReferences(_ body: JSONValue) throws -> Reply {
        let limit = try queryLimit(body)
        let sha1 = try certificateHash(body)
        _ = try publicKey(body)
        return agentsReply(store.certificate(sha1: sha1)?.firstReferences ?? [], limit: limit)
    }
}
