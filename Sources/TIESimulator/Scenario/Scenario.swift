import DXL
import DXLFabric
import DXLBroker
import TIE

/// A parsed, validated scenario: what TIE knows, and what happens on the timeline.
/// A plain value; see `scenarios/README.md` for the file format.
public struct Scenario: Sendable {
    /// The scenario's name (its `name:`, or the file name).
    public var name: String
    /// What it is for.
    public var description: String
    /// The file it was read from.
    public var source: String
    /// Settings that change how it is served and played.
    public var settings: ScenarioSettings
    /// The files TIE knows, in file order.
    public var files: [FileKnowledge]
    /// The certificates TIE knows, in file order.
    public var certificates: [CertificateKnowledge]
    /// The steps, in file order.
    public var timeline: [TimelineStep]
    /// What the application under test must or must not do (`expect:`).
    public var expectations: [Expectation] = []
    /// Faults the fake TIE injects (`faults:`).
    public var faults: [Fault] = []
    /// The brokers the scenario wants (`fabric:`); nil: one broker, or whatever `tiesim up` is told.
    public var fabric: FabricLayout?
    /// Topic authorisation the brokers enforce (`authorization:`), added to `tiesim up`'s options.
    public var authorization: TopicAuthorization?

    public init(name: String, description: String = "", source: String, settings: ScenarioSettings = ScenarioSettings(),
                files: [FileKnowledge] = [], certificates: [CertificateKnowledge] = [], timeline: [TimelineStep] = []) {
        self.name = name
        self.description = description
        self.source = source
        self.settings = settings
        self.files = files
        self.certificates = certificates
        self.timeline = timeline
    }

    /// The file called `name`.
    public func file(named name: String) -> FileKnowledge? { files.first { $0.name == name } }
    /// The certificate called `name`.
    public func certificate(named name: String) -> CertificateKnowledge? { certificates.first { $0.name == name } }
}

/// How many brokers a fabric has and how they are bridged (`fabric:` in a scenario, `--brokers` for `tiesim up`).
public struct FabricLayout: Sendable, Equatable {
    /// How many mosquitto brokers (1…16).
    public var brokers: Int
    /// How they are joined.
    public var topology: BrokerNetwork.Topology
    /// The line of `fabric:`.
    public var line: Int
    public init(brokers: Int, topology: BrokerNetwork.Topology = .hub, line: Int = 0) {
        self.brokers = brokers
        self.topology = topology
        self.line = line
    }
}

/// How the fake TIE answers a lookup of hashes it does not know.
public enum UnknownHashBehaviour: String, Sendable, CaseIterable {
    /// As the real server: a GTI UNKNOWN reputation and an enterprise record (providers without a
    /// reputation are left out, as users saw in dxltieclient #15).
    case realServer = "real-server"
    /// A DXL ErrorResponse.
    case error
}

/// Scenario-wide settings.
public struct ScenarioSettings: Sendable, Equatable {
    /// Seed for generated hashes and agent GUIDs, so runs repeat.
    public var seed: String = "tiesim"
    /// How unknown hashes are answered.
    public var unknownHashes: UnknownHashBehaviour = .realServer
    /// Whether the document said `unknownHashes:` itself (a fragment loaded at run time changes the
    /// behaviour only then).
    public var unknownHashesGiven = false
    /// Whether each event step waits until a client subscribes to its topic (when tiesim runs the broker).
    public var waitForSubscribers: Bool = true
    /// How long a step waits for a subscriber before it fails.
    public var subscriberTimeout: Duration = .seconds(300)
    public init() {}
}

/// One reputation of a file or certificate, as TIE returns it.
public struct Reputation: Sendable, Equatable {
    public var providerId: Int
    public var trustLevel: Int
    public var createDate: Int64
    /// Attribute id → value; values are strings on the wire, even numbers.
    public var attributes: [String: String]

    public init(providerId: Int, trustLevel: Int, createDate: Int64, attributes: [String: String] = [:]) {
        self.providerId = providerId
        self.trustLevel = trustLevel
        self.createDate = createDate
        self.attributes = attributes
    }

    /// The JSON object TIE sends.
    public var json: JSONValue {
        .object([
            "providerId": .int(Int64(providerId)),
            "trustLevel": .int(Int64(trustLevel)),
            "createDate": .int(createDate),
            "attributes": .object(JSONObject(attributes.mapValues { .string($0) })),
        ])
    }
}

/// An agent that first saw a file or certificate.
public struct FirstReference: Sendable, Equatable {
    public var agentGuid: String
    public var date: Int64
    public init(agentGuid: String, date: Int64) {
        self.agentGuid = agentGuid
        self.date = date
    }
    public var json: JSONValue { .object(["agentGuid": .string(agentGuid), "date": .int(date)]) }
}

/// A file TIE knows.
public struct FileKnowledge: Sendable, Equatable {
    public var name: String
    /// Lowercase hex digests by type.
    public var md5: String
    public var sha1: String
    public var sha256: String
    public var reputations: [Reputation]
    public var firstReferences: [FirstReference]
    /// The certificate that signed it (a name under `certificates:`), for rep-change `relationships`.
    public var certificate: String?
    /// The line where it is defined.
    public var line: Int

    public init(name: String, md5: String, sha1: String, sha256: String, reputations: [Reputation] = [], firstReferences: [FirstReference] = [],
                certificate: String? = nil, line: Int = 0) {
        self.name = name
        self.md5 = md5
        self.sha1 = sha1
        self.sha256 = sha256
        self.reputations = reputations
        self.firstReferences = firstReferences
        self.certificate = certificate
        self.line = line
    }

    /// The hashes as `(type, hex)` in md5, sha1, sha256 order.
    public var hashes: [(type: String, hex: String)] { [("md5", md5), ("sha1", sha1), ("sha256", sha256)] }
}

/// A certificate TIE knows.
public struct CertificateKnowledge: Sendable, Equatable {
    public var name: String
    public var sha1: String
    public var publicKeySha1: String?
    public var reputations: [Reputation]
    public var firstReferences: [FirstReference]
    public var line: Int
}

/// One step of the timeline.
public struct TimelineStep: Sendable {
    /// What the step sends.
    public enum Action: Sendable {
        case detection(DetectionSpec)
        case firstInstance(FirstInstanceSpec)
        case fileReputationChange(ReputationChangeSpec)
        case certificateReputationChange(ReputationChangeSpec)
        case event(topic: String, payload: JSONValue)
        /// Stops the step's broker for a while (`brokerOutage: 2s`), then starts it again on the same port.
        case brokerOutage(Duration)
    }

    /// A readable name (`name:`, or the action and line).
    public var name: String
    public var line: Int
    public var action: Action
    /// Start at this offset from the beginning of the timeline (instead of after the previous step).
    public var at: Duration?
    /// Start this long after the previous step ended.
    public var after: Duration = .zero
    /// How many events the step sends.
    public var count: Int = 1
    /// Time between two events of the step (from `rate:` or `interval:`); zero sends as fast as flow control allows.
    public var interval: Duration = .zero
    /// Generated agents the events cycle through (`agents: N`).
    public var agents: Int?
    /// The topic a subscriber must have subscribed to before the step starts; nil: no waiting.
    public var waitForSubscriber: String?
    /// The broker (1-based) the step publishes on, or that a `brokerOutage` stops.
    public var broker: Int = 1

    /// The DXL topic the step's events go to.
    public var topic: String {
        switch action {
        case .detection: return TieTopic.fileDetection
        case .firstInstance: return TieTopic.fileFirstInstance
        case .fileReputationChange: return TieTopic.fileReputationChange
        case .certificateReputationChange: return TieTopic.certificateReputationChange
        case .event(let topic, _): return topic
        case .brokerOutage: return ""
        }
    }
}

/// A detection event: which file, on which agent, when, and the endpoint's verdict.
public struct DetectionSpec: Sendable {
    public var file: String
    public var agentGuid: String?
    public var detectionTime: Int64?
    public var localReputation: Int
    public var remediationAction: Int
    /// The `name` field; the file's name when not given.
    public var name: String?
    /// Extra fields copied into the payload as given.
    public var extra: JSONObject
}

/// A first-instance event.
public struct FirstInstanceSpec: Sendable {
    public var file: String
    public var agentGuid: String?
    public var name: String?
    public var extra: JSONObject
}

/// A reputation change of a file or certificate: the new reputation of one provider.
public struct ReputationChangeSpec: Sendable {
    /// The file or certificate name.
    public var subject: String
    public var providerId: Int
    public var trustLevel: Int
    public var updateTime: Int64?
}
