import DXL
import Foundation

/// One reputation of a file or certificate, typed, with the dictionary `dxltieclient` would return for it.
public struct TieReputation: Sendable, Equatable {
    public var providerId: Int
    public var trustLevel: Int
    public var createDate: Int64?
    /// Attribute id → value (values are strings on the wire).
    public var attributes: [String: String]
    /// The reputation as TIE sent it (after `dxltieclient`'s transform of certificate overrides).
    public var dictionary: JSONValue

    init?(_ value: JSONValue) {
        guard let provider = value["providerId"]?.intValue else { return nil }
        providerId = Int(provider)
        trustLevel = Int(value["trustLevel"]?.intValue ?? 0)
        createDate = value["createDate"]?.intValue
        attributes = value["attributes"]?.objectValue?.compactMapValues { $0.stringValue ?? $0.intValue.map(String.init) } ?? [:]
        dictionary = value
    }

    /// The trust level as a constant, when it is one.
    public var trustLevelConstant: TrustLevel? { TrustLevel(rawValue: trustLevel) }
}

/// Reputations keyed by provider id, as `get_file_reputation` returns them; `dictionary` is Python's
/// dict (keys are the ids as strings).
public struct TieReputations: Sendable, Equatable {
    public var byProvider: [Int: TieReputation]
    public var dictionary: JSONValue

    init(list: JSONValue?) throws(HashEncodingError) {
        guard let list else {
            byProvider = [:]
            dictionary = .object([:])
            return
        }
        dictionary = try TieEventTransform.reputations(list)
        var result: [Int: TieReputation] = [:]
        for (_, value) in dictionary.objectValue ?? [:] {
            if let reputation = TieReputation(value) { result[reputation.providerId] = reputation }
        }
        byProvider = result
    }

    public subscript(provider: FileProvider) -> TieReputation? { byProvider[provider.rawValue] }
    public subscript(provider: CertProvider) -> TieReputation? { byProvider[provider.rawValue] }
    public subscript(providerId: Int) -> TieReputation? { byProvider[providerId] }
}

/// An agent that first referenced a file or certificate.
public struct TieFirstReference: Sendable, Equatable {
    public var agentGuid: String
    public var date: Int64
    public var dictionary: JSONValue
}

/// A detection event, typed, with Python's dictionary and the original event.
public struct Detection: Sendable {
    public var agentGuid: String?
    public var detectionTime: Int64?
    /// Hash type → hex.
    public var hashes: [String: String]
    public var localReputation: Int?
    public var name: String?
    public var remediationAction: Int?
    /// What `DetectionCallback.on_detection` receives in Python.
    public var dictionary: JSONValue
    /// The DXL event as it arrived.
    public var event: DXLMessage
}

/// A first-instance event.
public struct FirstInstance: Sendable {
    public var agentGuid: String?
    public var hashes: [String: String]
    public var name: String?
    public var dictionary: JSONValue
    public var event: DXLMessage
}

/// A file or certificate reputation change.
public struct ReputationChange: Sendable {
    /// Hash type → hex (`sha1` only for certificates).
    public var hashes: [String: String]
    public var oldReputations: TieReputations
    public var newReputations: TieReputations
    public var updateTime: Int64?
    /// Certificates: the public key's SHA-1 (hex).
    public var publicKeySha1: String?
    /// Files: the signing certificate's SHA-1 and public-key SHA-1 (hex), from `relationships`.
    public var certificateSha1: String?
    public var certificatePublicKeySha1: String?
    public var dictionary: JSONValue
    public var event: DXLMessage
    /// Whether it came on the certificate topic.
    public var isCertificate: Bool { event.destinationTopic == TieTopic.certificateReputationChange }
}

/// Errors of the TIE client.
public enum TieError: Error, Sendable, CustomStringConvertible {
    /// TIE (or the fabric) answered with a DXL ErrorResponse.
    case errorResponse(code: Int64, message: String)
    /// No answer within the response timeout.
    case timeout(topic: String, timeout: Duration)
    /// An argument was refused before anything was sent (as `dxltieclient` raises ValueError).
    case invalidArgument(String)
    /// The answer was not what TIE sends.
    case malformedResponse(topic: String, reason: String)
    /// The DXL client failed.
    case dxl(DXLError)

    public var description: String {
        switch self {
        case .errorResponse(let code, let message): return "Error: \(message) (\(code))"
        case .timeout(let topic, let timeout): return "no response on \(topic) within \(timeout)"
        case .invalidArgument(let reason): return reason
        case .malformedResponse(let topic, let reason): return "malformed response on \(topic): \(reason)"
        case .dxl(let error): return error.description
        }
    }
}

extension JSONObject {
    var hexStrings: [String: String] { compactMapValues(\.stringValue) }
}
