import DXLWire
import TIE

/// The JSON bodies of the events and replies the real TIE server sends, built from the store's records.
public enum TiePayloads {
    /// `[{"type": "md5", "value": "<b64>"}, …]` for the given hex hashes, as TIE sends them.
    public static func hashList(_ hashes: [(type: String, hex: String)]) -> JSONValue {
        (try? HashEncoding.hashList(hashes)) ?? .array([])
    }

    /// `{"reputations": [...], "props": {...}}`, reputations ordered by provider id.
    public static func reputationsBlock(_ reputations: [Int: Reputation], props: JSONValue) -> JSONValue {
        .object([
            "reputations": .array(reputations.keys.sorted().compactMap { reputations[$0]?.json }),
            "props": props,
        ])
    }

    /// A detection event, as an endpoint sends it (hashes as a base64 list).
    public static func detection(hashes: [(type: String, hex: String)], agentGuid: String, detectionTime: Int64, localReputation: Int, name: String, remediationAction: Int, extra: JSONObject = [:]) -> JSONValue {
        var members = extra
        members["agentGuid"] = .string(agentGuid)
        members["detectionTime"] = .int(detectionTime)
        members["hashes"] = hashList(hashes)
        members["localReputation"] = .int(Int64(localReputation))
        members["name"] = .string(name)
        members["remediationAction"] = .int(Int64(remediationAction))
        return .object(members)
    }

    /// A first-instance event.
    public static func firstInstance(hashes: [(type: String, hex: String)], agentGuid: String, name: String, extra: JSONObject = [:]) -> JSONValue {
        var members = extra
        members["agentGuid"] = .string(agentGuid)
        members["hashes"] = hashList(hashes)
        members["name"] = .string(name)
        return .object(members)
    }

    /// A file reputation-change broadcast with old and new reputations, and the signing certificate
    /// under `relationships` when the file has one.
    public static func fileReputationChange(old: ReputationStore.FileRecord, new: ReputationStore.FileRecord, certificate: ReputationStore.CertificateRecord?, updateTime: Int64) -> JSONValue {
        var members: JSONObject = [
            "hashes": hashList(new.hashes),
            "oldReputations": reputationsBlock(old.reputations, props: ["serverTime": .int(updateTime)]),
            "newReputations": reputationsBlock(new.reputations, props: ["serverTime": .int(updateTime)]),
            "updateTime": .int(updateTime),
        ]
        if let certificate {
            var certificateMembers: JSONObject = ["hashes": hashList([("sha1", certificate.sha1)])]
            if let key = certificate.publicKeySha1, let b64 = try? HashEncoding.base64(hex: key) { certificateMembers["publicKeySha1"] = .string(b64) }
            members["relationships"] = ["certificate": .object(certificateMembers)]
        }
        return .object(members)
    }

    /// A certificate reputation-change broadcast.
    public static func certificateReputationChange(old: ReputationStore.CertificateRecord, new: ReputationStore.CertificateRecord, updateTime: Int64) -> JSONValue {
        var members: JSONObject = [
            "hashes": hashList([("sha1", new.sha1)]),
            "oldReputations": reputationsBlock(old.reputations, props: ["serverTime": .int(updateTime)]),
            "newReputations": reputationsBlock(new.reputations, props: ["serverTime": .int(updateTime)]),
            "updateTime": .int(updateTime),
        ]
        if let key = new.publicKeySha1, let b64 = try? HashEncoding.base64(hex: key) { members["publicKeySha1"] = .string(b64) }
        return .object(members)
    }
}
