import DXL
import Foundation
import Logging
import Synchronization

/// The TIE API of `dxltieclient` 0.3.0 over a connected `DXLClient`: reputations, first references,
/// external reports, and the four event callbacks (also as async sequences).
///
/// Request payloads are the Python client's, field for field (base64 hash lists, `scanType` 3,
/// provider 3 or 4). Threading: any task; callbacks run on the DXL client's network thread.
public final class TieClient: Sendable {
    /// A handle for removing a callback.
    public struct CallbackToken: Hashable, Sendable {
        let token: DXLClient.CallbackToken
    }

    /// The DXL client used.
    public let dxlClient: DXLClient
    private let timeout = Mutex<Duration>(.seconds(30))
    private let logger: Logger

    /// The version of `dxltieclient` this client matches.
    public static let version = "0.3.0"

    /// A TIE client over `dxlClient` (connect it first).
    public init(_ dxlClient: DXLClient, logger: Logger = Logger(label: "tiesim.tie-client")) {
        self.dxlClient = dxlClient
        self.logger = logger
    }

    /// How long a request waits for TIE (default 30 s).
    public var responseTimeout: Duration { timeout.withLock { $0 } }

    /// Sets the response timeout; like `dxltieclient`, less than 30 seconds is refused.
    public func setResponseTimeout(_ value: Duration) throws(TieError) {
        guard value >= .seconds(30) else { throw .invalidArgument("Response timeout must be greater than or equal to 30") }
        timeout.withLock { $0 = value }
    }

    // MARK: Requests

    /// `hashes` in the order md5, sha1, sha256 (dxltieclient writes its caller's dict in that dict's
    /// order: the bodies match byte for byte when the caller lists them so).
    static func orderedHashes(_ hashes: [HashType: String]) -> [(type: String, hex: String)] {
        HashType.allCases.compactMap { type in hashes[type].map { (type.rawValue, $0) } }
    }

    func request(_ topic: String, _ body: JSONValue) async throws(TieError) -> JSONValue {
        let limit = responseTimeout
        let reply: DXLMessage
        do {
            reply = try await dxlClient.request(.request(topic: topic, payload: body.serializedBytes(style: .python, sortedKeys: false)), timeout: limit)
        } catch {
            if case .timeout = error { throw .timeout(topic: topic, timeout: limit) }
            throw .dxl(error)
        }
        if reply.type == .errorResponse {
            throw .errorResponse(code: reply.errorCode, message: reply.errorMessage ?? "")
        }
        if reply.payload.isEmpty { return .object([:]) }
        do {
            return try JSONValue.parse(reply.payload)
        } catch {
            throw .malformedResponse(topic: topic, reason: error.description)
        }
    }

    func hashList(_ hashes: [HashType: String]) throws(TieError) -> JSONValue {
        do {
            return try HashEncoding.hashList(Self.orderedHashes(hashes))
        } catch {
            throw .invalidArgument(error.description)
        }
    }

    func base64(_ hex: String) throws(TieError) -> String {
        do { return try HashEncoding.base64(hex: hex) } catch { throw .invalidArgument(error.description) }
    }

    func reputations(_ reply: JSONValue, topic: String) throws(TieError) -> TieReputations {
        do { return try TieReputations(list: reply["reputations"]) } catch { throw .malformedResponse(topic: topic, reason: error.description) }
    }

    func references(_ reply: JSONValue) -> [TieFirstReference] {
        (reply["agents"]?.arrayValue ?? []).map { agent in
            TieFirstReference(agentGuid: agent["agentGuid"]?.stringValue ?? "", date: agent["date"]?.intValue ?? 0, dictionary: agent)
        }
    }

    /// The reputations of the file with `hashes` (type → hex), keyed by provider.
    public func getFileReputation(hashes: [HashType: String]) async throws(TieError) -> TieReputations {
        let body: JSONValue = ["hashes": try hashList(hashes), "scanType": 3]
        return try reputations(try await request(TieTopic.getFileReputation, body), topic: TieTopic.getFileReputation)
    }

    /// Sets the enterprise reputation of a file (TIE then broadcasts the change).
    public func setFileReputation(trustLevel: TrustLevel, hashes: [HashType: String], filename: String = "", comment: String = "") async throws(TieError) {
        let body: JSONValue = [
            "trustLevel": .int(Int64(trustLevel.rawValue)), "providerId": .int(Int64(FileProvider.enterprise.rawValue)),
            "filename": .string(filename), "comment": .string(comment), "hashes": try hashList(hashes),
        ]
        _ = try await request(TieTopic.setFileReputation, body)
    }

    /// Reports an external reputation (provider EXTERNAL, 15) as a fire-and-forget event, refusing
    /// NOT_SET and empty hashes as `dxltieclient` does. Hashes go as given, in hex.
    public func setExternalFileReputation(trustLevel: TrustLevel, hashes: [HashType: String], fileType: FileType = .none, filename: String = "", comment: String = "") throws(TieError) {
        guard trustLevel != .notSet else { throw .invalidArgument("TrustLevel was not specified") }
        guard !hashes.isEmpty else { throw .invalidArgument("File hashes were not specified") }
        let hashMap = JSONObject(Self.orderedHashes(hashes).map { ($0.type, JSONValue.string($0.hex)) })
        let body: JSONValue = [
            "file": [
                "type": .int(fileType.rawValue), "hashes": .object(hashMap),
                "attributes": ["filename": .string(filename)], "reputation": ["score": .int(Int64(trustLevel.rawValue))],
            ],
            "provider": ["id": .int(Int64(FileProvider.external.rawValue))],
            "comment": .string(comment),
        ]
        do {
            try dxlClient.sendEvent(topic: TieTopic.externalFileReport, payload: body.serializedBytes(style: .python, sortedKeys: false))
        } catch {
            throw .dxl(error)
        }
    }

    /// The agents that first referenced the file, at most `queryLimit`.
    public func getFileFirstReferences(hashes: [HashType: String], queryLimit: Int = 500) async throws(TieError) -> [TieFirstReference] {
        let body: JSONValue = ["queryLimit": .int(Int64(queryLimit)), "hashes": try hashList(hashes)]
        return references(try await request(TieTopic.getFileFirstReferences, body))
    }

    /// A certificate request's body: `leading` members first, then the hashes and the public key's hash,
    /// in the order `dxltieclient` writes them.
    func certificateBody(_ leading: JSONObject = [:], sha1: String, publicKeySha1: String?) throws(TieError) -> JSONValue {
        var body = leading
        body["hashes"] = [["type": "sha1", "value": .string(try base64(sha1))]]
        // dxltieclient leaves an empty public key hash out (`if public_key_sha1:`).
        if let publicKeySha1, !publicKeySha1.isEmpty { body["publicKeySha1"] = .string(try base64(publicKeySha1)) }
        return .object(body)
    }

    /// The reputations of a certificate (GTI 2, ENTERPRISE 4).
    public func getCertificateReputation(sha1: String, publicKeySha1: String? = nil) async throws(TieError) -> TieReputations {
        let body = try certificateBody(sha1: sha1, publicKeySha1: publicKeySha1)
        return try reputations(try await request(TieTopic.getCertificateReputation, body), topic: TieTopic.getCertificateReputation)
    }

    /// Sets the enterprise reputation of a certificate.
    public func setCertificateReputation(trustLevel: TrustLevel, sha1: String, publicKeySha1: String? = nil, comment: String = "") async throws(TieError) {
        let leading: JSONObject = [
            "trustLevel": .int(Int64(trustLevel.rawValue)), "providerId": .int(Int64(CertProvider.enterprise.rawValue)), "comment": .string(comment),
        ]
        _ = try await request(TieTopic.setCertificateReputation, try certificateBody(leading, sha1: sha1, publicKeySha1: publicKeySha1))
    }

    /// The agents that first referenced a certificate, at most `queryLimit`.
    public func getCertificateFirstReferences(sha1: String, publicKeySha1: String? = nil, queryLimit: Int = 500) async throws(TieError) -> [TieFirstReference] {
        let body = try certificateBody(["queryLimit": .int(Int64(queryLimit))], sha1: sha1, publicKeySha1: publicKeySha1)
        return references(try await request(TieTopic.getCertificateFirstReferences, body))
    }

    // MARK: Callbacks

    /// Parses an event's JSON and applies `transform`; logs and returns nil for malformed events.
    func decode<T>(_ event: DXLMessage, _ make: (consuming JSONValue) throws -> T) -> T? {
        do {
            let json = try JSONValue.parse(event.payload)
            guard case .object = json else { throw TieError.malformedResponse(topic: event.destinationTopic, reason: "not a JSON object") }
            return try make(json)
        } catch {
            logger.warning("skipped a malformed TIE event on \(event.destinationTopic) (message \(event.messageId)): \(error)")
            return nil
        }
    }

    /// Builds a `Detection` from an event, or nil (logged) when it is malformed.
    public func detection(from event: DXLMessage) -> Detection? {
        decode(event) { json in
            let dict = try TieEventTransform.detection(json)
            return Detection(
                agentGuid: dict["agentGuid"]?.stringValue, detectionTime: dict["detectionTime"]?.intValue,
                hashes: dict["hashes"]?.objectValue?.hexStrings ?? [:], localReputation: dict["localReputation"]?.intValue.map(Int.init),
                name: dict["name"]?.stringValue, remediationAction: dict["remediationAction"]?.intValue.map(Int.init),
                dictionary: dict, event: event
            )
        }
    }

    /// Builds a `FirstInstance` from an event, or nil (logged) when it is malformed.
    public func firstInstance(from event: DXLMessage) -> FirstInstance? {
        decode(event) { json in
            let dict = try TieEventTransform.firstInstance(json)
            return FirstInstance(agentGuid: dict["agentGuid"]?.stringValue, hashes: dict["hashes"]?.objectValue?.hexStrings ?? [:],
                                 name: dict["name"]?.stringValue, dictionary: dict, event: event)
        }
    }

    /// Builds a `ReputationChange` from an event, or nil (logged) when it is malformed.
    public func reputationChange(from event: DXLMessage) -> ReputationChange? {
        decode(event) { json in
            let dict = try TieEventTransform.reputationChange(json)
            func reputations(_ key: String) throws -> TieReputations {
                guard let list = json[key]?["reputations"] else { return try TieReputations(list: nil) }
                return try TieReputations(list: list)
            }
            let certificate = dict["relationships"]?["certificate"]
            return ReputationChange(
                hashes: dict["hashes"]?.objectValue?.hexStrings ?? [:], oldReputations: try reputations("oldReputations"),
                newReputations: try reputations("newReputations"), updateTime: dict["updateTime"]?.intValue,
                publicKeySha1: dict["publicKeySha1"]?.stringValue, certificateSha1: certificate?["hashes"]?["sha1"]?.stringValue,
                certificatePublicKeySha1: certificate?["publicKeySha1"]?.stringValue, dictionary: dict, event: event
            )
        }
    }

    private func add<T>(_ topic: String, _ make: @escaping @Sendable (DXLMessage) -> T?, _ callback: @escaping @Sendable (T) -> Void) async throws(TieError) -> CallbackToken {
        do {
            let token = try await dxlClient.addEventCallback(topic: topic) { event in
                if let value = make(event) { callback(value) }
            }
            return CallbackToken(token: token)
        } catch {
            throw .dxl(error)
        }
    }

    /// Calls `callback` for each detection (`/mcafee/event/tie/file/detection`).
    @discardableResult
    public func addFileDetectionCallback(_ callback: @escaping @Sendable (Detection) -> Void) async throws(TieError) -> CallbackToken {
        try await add(TieTopic.fileDetection, { [self] in detection(from: $0) }, callback)
    }

    /// Calls `callback` for each first instance.
    @discardableResult
    public func addFileFirstInstanceCallback(_ callback: @escaping @Sendable (FirstInstance) -> Void) async throws(TieError) -> CallbackToken {
        try await add(TieTopic.fileFirstInstance, { [self] in firstInstance(from: $0) }, callback)
    }

    /// Calls `callback` for each file reputation change.
    @discardableResult
    public func addFileReputationChangeCallback(_ callback: @escaping @Sendable (ReputationChange) -> Void) async throws(TieError) -> CallbackToken {
        try await add(TieTopic.fileReputationChange, { [self] in reputationChange(from: $0) }, callback)
    }

    /// Calls `callback` for each certificate reputation change.
    @discardableResult
    public func addCertificateReputationChangeCallback(_ callback: @escaping @Sendable (ReputationChange) -> Void) async throws(TieError) -> CallbackToken {
        try await add(TieTopic.certificateReputationChange, { [self] in reputationChange(from: $0) }, callback)
    }

    /// Removes a callback (and unsubscribes when it was the topic's last).
    public func removeCallback(_ token: CallbackToken) {
        dxlClient.removeCallback(token.token)
    }

    // MARK: Async sequences

    private func stream<T: Sendable>(_ add: @escaping @Sendable (@escaping @Sendable (T) -> Void) async throws(TieError) -> CallbackToken) async throws(TieError) -> AsyncStream<T> {
        let (stream, continuation) = AsyncStream<T>.makeStream(bufferingPolicy: .unbounded)
        let token = try await add { continuation.yield($0) }
        continuation.onTermination = { [weak self] _ in self?.removeCallback(token) }
        return stream
    }

    /// Detections as an async sequence; subscribed (SUBACK received) when this returns.
    public func detectionStream() async throws(TieError) -> AsyncStream<Detection> {
        try await stream { callback throws(TieError) in try await self.addFileDetectionCallback(callback) }
    }

    /// First instances as an async sequence.
    public func firstInstanceStream() async throws(TieError) -> AsyncStream<FirstInstance> {
        try await stream { callback throws(TieError) in try await self.addFileFirstInstanceCallback(callback) }
    }

    /// File reputation changes as an async sequence.
    public func fileReputationChangeStream() async throws(TieError) -> AsyncStream<ReputationChange> {
        try await stream { callback throws(TieError) in try await self.addFileReputationChangeCallback(callback) }
    }

    /// Certificate reputation changes as an async sequence.
    public func certificateReputationChangeStream() async throws(TieError) -> AsyncStream<ReputationChange> {
        try await stream { callback throws(TieError) in try await self.addCertificateReputationChangeCallback(callback) }
    }

    /// Detections, as `for await detection in tie.detections`: the subscription is made in the
    /// background, so events sent before it completes may be missed — use `detectionStream()` to wait.
    public var detections: AsyncStream<Detection> { backgroundStream { try await self.detectionStream() } }
    /// First instances (see `detections`).
    public var firstInstances: AsyncStream<FirstInstance> { backgroundStream { try await self.firstInstanceStream() } }
    /// File reputation changes (see `detections`).
    public var fileReputationChanges: AsyncStream<ReputationChange> { backgroundStream { try await self.fileReputationChangeStream() } }
    /// Certificate reputation changes (see `detections`).
    public var certificateReputationChanges: AsyncStream<ReputationChange> { backgroundStream { try await self.certificateReputationChangeStream() } }

    private func backgroundStream<T: Sendable>(_ make: @escaping @Sendable () async throws -> AsyncStream<T>) -> AsyncStream<T> {
        let (stream, continuation) = AsyncStream<T>.makeStream()
        let task = Task { [logger] in
            do {
                for await value in try await make() { continuation.yield(value) }
            } catch {
                logger.warning("could not subscribe: \(error)")
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
