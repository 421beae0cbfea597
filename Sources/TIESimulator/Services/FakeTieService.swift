import DXL
import Foundation
import Logging
import Synchronization
import TIE

/// The fake TIE server: answers the six TIE request topics from a `ReputationStore` with the real
/// server's response shapes, changes the store on set requests and external reports, and broadcasts the
/// reputation-change events the real server broadcasts.
///
/// Bad requests get a DXL ErrorResponse saying what was wrong and leave the store unchanged.
/// Threading: the network thread answers a request at once when nothing waits, and otherwise queues it
/// (`FairRequestQueue`: one queue per requester, so a flooding client cannot starve the others) for one
/// worker thread; the store is thread-safe.
public final class FakeTieService: Sendable {
    /// What a request handler produced: a JSON reply, or an error reply.
    enum Reply {
        case json(JSONValue)
        case error(code: Int64, message: String)
    }

    /// A request that could not be served as asked.
    struct BadRequest: Error {
        let message: String
    }

    /// The error code of TIE's own error replies (the server's "Could not find reputation (0)" form).
    public static let tieErrorCode: Int64 = 0

    public let store: ReputationStore
    private let client: DXLClient
    private let unknownHashes: Mutex<UnknownHashBehaviour>
    private let logger: Logger
    private let tokens = Mutex<[DXLClient.CallbackToken]>([])
    /// The TIE server version the enterprise records report (1.4.0.190, as in dxltieclient's examples).
    public static let serverVersion = "73183493944770750"
    /// Called for every request served and every report received (for journals and tests).
    private let observer: (@Sendable (DXLMessage, String?) -> Void)?
    /// Where error replies and the events this service broadcasts are recorded; with `recordsRequests`,
    /// the requests too (when no `#` observer records them).
    private let journal: Journal?
    private let recordsRequests: Bool
    /// Injected faults, with how often each has fired, and the seeded generator for delays and drops.
    private let faults = Mutex<(rules: [(fault: Fault, fired: Int)], random: SeededRandom)>(([], SeededRandom(seed: "tiesim")))
    /// Requests waiting to be answered, per requester.
    private let queue: FairRequestQueue

    /// A service answering through `client` from `store`.
    public init(client: DXLClient, store: ReputationStore, unknownHashes: UnknownHashBehaviour = .realServer,
                logger: Logger = Logger(label: "tiesim.tie"), journal: Journal? = nil, recordsRequests: Bool = false,
                waitingLimitPerRequester: Int = 1_000, rateLimitPerRequester: Double = 0, observer: (@Sendable (DXLMessage, String?) -> Void)? = nil) {
        self.client = client
        self.journal = journal
        self.recordsRequests = recordsRequests
        self.store = store
        self.unknownHashes = Mutex(unknownHashes)
        self.logger = logger
        self.observer = observer
        queue = FairRequestQueue(perRequesterLimit: waitingLimitPerRequester, perRequesterRate: rateLimitPerRequester, logger: logger)
        queue.start { [weak self] in self?.process($0) }
    }

    deinit {
        queue.close()
    }

    /// Requests waiting now, the most that ever waited, and how many were shed because their requester
    /// had too many waiting.
    public var queueStatistics: (waiting: Int, highWater: Int, shed: Int) {
        queue.statistics
    }

    /// How unknown hashes are answered from now on.
    public var unknownHashBehaviour: UnknownHashBehaviour {
        get { unknownHashes.withLock { $0 } }
        set { unknownHashes.withLock { $0 = newValue } }
    }

    /// Injects `faults` from now on (replacing earlier ones), with randomness seeded by `seed`.
    public func setFaults(_ faults: [Fault], seed: String) {
        self.faults.withLock { $0 = (faults.map { ($0, 0) }, SeededRandom(seed: seed)) }
    }

    /// Adds `faults` to the ones injected.
    public func addFaults(_ faults: [Fault]) {
        self.faults.withLock { $0.rules += faults.map { ($0, 0) } }
    }

    /// The fault that applies to `request`, if any, and whether it fires this time (drops are random).
    func fault(for request: DXLMessage) -> Fault? {
        // Every request passes here: without faults, or without faults that name hashes, the request's
        // JSON is not parsed an extra time.
        let (anyRules, anyHashRules) = faults.withLock { state in (!state.rules.isEmpty, state.rules.contains { $0.fault.hashes != nil }) }
        guard anyRules else { return nil }
        let hashes: [String] = !anyHashRules ? [] : (try? JSONValue.parse(request.payload))?["hashes"]?.arrayValue?.compactMap { entry in
            entry["value"]?.stringValue.flatMap { try? HashEncoding.hex(base64: $0) }
        } ?? []
        return faults.withLock { state -> Fault? in
            for index in state.rules.indices {
                let rule = state.rules[index]
                guard rule.fault.matches(topic: request.destinationTopic, hashes: hashes) else { continue }
                if let times = rule.fault.times, rule.fired >= times { continue }
                if case .drop(let share) = rule.fault.effect, state.random.nextUnit() >= share { return nil }
                state.rules[index].fired += 1
                return rule.fault
            }
            return nil
        }
    }

    func delay(_ fault: Fault) -> Duration {
        guard case .delay(let low, let high) = fault.effect else { return .zero }
        if low == high { return low }
        let unit = faults.withLock { $0.random.nextUnit() }
        return low + (high - low) * unit
    }

    /// The topics this service answers.
    public static let servedTopics = TieTopic.requestTopics

    /// The service type a TIE server registers.
    public static let serviceType = "/mcafee/service/tie"

    /// Registers as the TIE service (its six request topics), like a TIE server, so requests reach it
    /// through the broker's routing, and subscribes to the external report topic.
    public func start() async throws {
        var handlers: [String: @Sendable (DXLMessage) -> Void] = [:]
        for topic in Self.servedTopics { handlers[topic] = { [weak self] request in self?.handle(request) } }
        try await client.registerService(ServiceRegistrationInfo(serviceType: Self.serviceType, metadata: ["server": "tiesim"], requestHandlers: handlers))
        var added: [DXLClient.CallbackToken] = []
        added.append(try await client.addEventCallback(topic: TieTopic.externalFileReport) { [weak self] event in self?.handleExternalReport(event) })
        tokens.withLock { $0 += added }
    }

    /// Stops answering.
    public func stop() {
        for token in tokens.withLock({ tokens in defer { tokens.removeAll() }; return tokens }) { client.removeCallback(token) }
        queue.close()
    }

    // MARK: Requests

    /// Answers `request` at once when nothing waits, else queues it for the worker (on the network thread).
    func handle(_ request: DXLMessage) {
        guard queue.submit(request) == .shed else { return }
        // Shed, not silent: the requester hears at once that the service is overloaded, as the DXL broker
        // tells it when a service's queue is full, instead of waiting out its timeout.
        let overloaded = DXLMessage.errorResponse(to: request, code: DXLErrorCode.brokerWireForm(DXLErrorCode.serviceOverloaded),
                                                  message: DXLErrorCode.serviceOverloadedMessage)
        journal?.record(overloaded, kind: .errorReply, note: DXLErrorCode.serviceOverloadedMessage)
        try? client.send(overloaded)
    }

    /// Answers `request`, or injects its fault (on the worker thread).
    func process(_ request: DXLMessage) {
        // Journaled once answered: the requester waits for the answer, not for the journal.
        defer { if recordsRequests { journal?.record(request, kind: .request) } }
        if let fault = fault(for: request) {
            journal?.record(request, kind: .fault, note: fault.summary)
            switch fault.effect {
            case .drop:
                return
            case .error(let code, let message):
                try? client.send(.errorResponse(to: request, code: code, message: message))
                return
            case .malformed:
                try? client.send(.response(to: request, payload: Array("{\"reputations\": [not json".utf8)))
                return
            case .delay:
                let wait = delay(fault)
                Task { [weak self] in
                    try? await Task.sleep(for: wait)
                    self?.answer(request)
                }
                return
            }
        }
        answer(request)
    }

    func answer(_ request: DXLMessage) {
        let reply: Reply
        do {
            let body = try parseBody(request)
            switch request.destinationTopic {
            case TieTopic.getFileReputation: reply = try getFileReputation(body)
            case TieTopic.setFileReputation: reply = try setFileReputation(body)
            case TieTopic.getCertificateReputation: reply = try getCertificateReputation(body)
            case TieTopic.setCertificateReputation: reply = try setCertificateReputation(body)
            case TieTopic.getFileFirstReferences: reply = try fileFirstReferences(body)
            case TieTopic.getCertificateFirstReferences: reply = try certificateFirstReferences(body)
            default: reply = .error(code: Self.tieErrorCode, message: "unknown TIE topic \(request.destinationTopic)")
            }
        } catch let error as BadRequest {
            logger.notice("bad request on \(request.destinationTopic) (\(request.messageId)): \(error.message)")
            reply = .error(code: Self.tieErrorCode, message: error.message)
        } catch {
            reply = .error(code: Self.tieErrorCode, message: String(describing: error))
        }
        let response: DXLMessage
        switch reply {
        case .json(let value):
            response = .response(to: request, payload: value.serializedBytes(style: .python))
            observer?(request, nil)
        case .error(let code, let message):
            response = .errorResponse(to: request, code: code, message: message)
            observer?(request, message)
            journal?.record(response, kind: .errorReply, note: message)
        }
        do {
            try client.send(response)
        } catch {
            logger.warning("could not answer \(request.messageId) on \(request.destinationTopic): \(error)")
        }
    }

    func parseBody(_ request: DXLMessage) throws -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONValue.parse(request.payload)
        } catch {
            throw BadRequest(message: "the request is not JSON: \(error)")
        }
        guard case .object = value else { throw BadRequest(message: "the request must be a JSON object, not \(value.kindDescription)") }
        return value
    }

    /// Reads `hashes: [{"type", "value": b64}]`, checking types, base64 and digest lengths.
    func hashes(_ body: JSONValue, allowed: [HashType]) throws -> [(type: String, hex: String)] {
        guard let value = body["hashes"] else { throw BadRequest(message: "missing 'hashes'") }
        guard case .array(let entries) = value else { throw BadRequest(message: "'hashes' must be a list of {type, value}, not \(value.kindDescription)") }
        guard !entries.isEmpty else { throw BadRequest(message: "'hashes' is empty") }
        var result: [(type: String, hex: String)] = []
        for entry in entries {
            guard let typeName = entry["type"]?.stringValue else { throw BadRequest(message: "a hash has no string 'type'") }
            guard let type = HashType(rawValue: typeName.lowercased()), allowed.contains(type) else {
                throw BadRequest(message: "unsupported hash type '\(typeName)' (expected \(allowed.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let b64 = entry["value"]?.stringValue else { throw BadRequest(message: "the \(typeName) hash has no string 'value'") }
            guard let data = Data(base64Encoded: b64) else { throw BadRequest(message: "the \(typeName) value '\(b64)' is not base64") }
            guard data.count == type.byteCount else { throw BadRequest(message: "the \(typeName) value is \(data.count) bytes; a \(typeName) is \(type.byteCount)") }
            result.append((type.rawValue, HashEncoding.hex(data)))
        }
        return result
    }

    func trustLevel(_ body: JSONValue) throws -> Int {
        guard let value = body["trustLevel"] else { throw BadRequest(message: "missing 'trustLevel'") }
        guard let level = value.intValue else { throw BadRequest(message: "'trustLevel' must be an integer, not \(value.kindDescription)") }
        guard TrustLevel(rawValue: Int(level)) != nil else { throw BadRequest(message: "unknown trust level \(level)") }
        return Int(level)
    }

    func optionalString(_ body: JSONValue, _ key: String) throws -> String? {
        guard let value = body[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw BadRequest(message: "'\(key)' must be a string, not \(value.kindDescription)") }
        return text
    }

    func publicKey(_ body: JSONValue) throws -> String? {
        guard let b64 = try optionalString(body, "publicKeySha1") else { return nil }
        guard let data = Data(base64Encoded: b64), data.count == 20 else { throw BadRequest(message: "'publicKeySha1' is not a base64 SHA-1") }
        return HashEncoding.hex(data)
    }

    func queryLimit(_ body: JSONValue) throws -> Int {
        guard let value = body["queryLimit"] else { return 500 }
        guard let limit = value.intValue, limit >= 0 else { throw BadRequest(message: "'queryLimit' must be a non-negative integer") }
        return Int(limit)
    }

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

    // MARK: External reports

    func handleExternalReport(_ event: DXLMessage) {
        do {
            let body = try parseBody(event)
            guard let file = body["file"], case .object = file else { throw BadRequest(message: "missing 'file' object") }
            guard case .object(let hashMap)? = file["hashes"], !hashMap.isEmpty else { throw BadRequest(message: "'file.hashes' must be a non-empty {type: hex} object") }
            var hashes: [(type: String, hex: String)] = []
            for (typeName, value) in hashMap.sorted(by: { $0.key < $1.key }) {
                guard let type = HashType(rawValue: typeName.lowercased()) else { throw BadRequest(message: "unsupported hash type '\(typeName)'") }
                guard let hex = value.stringValue, let bytes = try? HashEncoding.bytes(hex: hex), bytes.count == type.byteCount else {
                    throw BadRequest(message: "the \(typeName) hash is not \(type.byteCount * 2) hex digits")
                }
                hashes.append((type.rawValue, HashEncoding.hex(bytes)))
            }
            guard let score = file["reputation"]?["score"]?.intValue else { throw BadRequest(message: "missing integer 'file.reputation.score'") }
            guard score != 0 else { throw BadRequest(message: "trust level 0 (NOT_SET) is refused") }
            guard TrustLevel(rawValue: Int(score)) != nil else { throw BadRequest(message: "unknown trust level \(score)") }
            let filename = file["attributes"]?["filename"]?.stringValue
            let change = try store.setFileReputation(hashes: hashes, providerId: FileProvider.external.rawValue, trustLevel: Int(score),
                                                     filename: filename?.isEmpty == false ? filename : nil, now: Self.now)
            observer?(event, nil)
            broadcastFileChange(change)
        } catch let error as BadRequest {
            logger.notice("ignored external report \(event.messageId): \(error.message)")
            observer?(event, error.message)
            journal?.record(event, kind: .errorReply, note: "external report ignored: \(error.message)")
        } catch {
            logger.notice("ignored external report \(event.messageId): \(error)")
            observer?(event, String(describing: error))
        }
    }
}
