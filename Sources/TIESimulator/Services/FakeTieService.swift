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
    let client: DXLClient
    let unknownHashes: Mutex<UnknownHashBehaviour>
    let logger: Logger
    let tokens = Mutex<[DXLClient.CallbackToken]>([])
    /// The TIE server version the enterprise records report (1.4.0.190, as in dxltieclient's examples).
    public static let serverVersion = "73183493944770750"
    /// Called for every request served and every report received (for journals and tests).
    let observer: (@Sendable (DXLMessage, String?) -> Void)?
    /// Where error replies and the events this service broadcasts are recorded; with `recordsRequests`,
    /// the requests too (when no `#` observer records them).
    let journal: Journal?
    let recordsRequests: Bool
    /// Injected faults, with how often each has fired, and the seeded generator for delays and drops.
    let faults = Mutex<(rules: [(fault: Fault, fired: Int)], random: SeededRandom)>(([], SeededRandom(seed: "tiesim")))
    /// Requests waiting to be answered, per requester.
    let queue: FairRequestQueue
    /// The replies to repeated lookups (see `ReplyCache`).
    let replies = Mutex(ReplyCache())

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
        set {
            unknownHashes.withLock { $0 = newValue }
            replies.withLock { $0.removeAll() }
        }
    }

    /// The service type a TIE server registers.
    public static let serviceType = "/mcafee/service/tie"

    /// The id it registers under.
    public let serviceGuid = DXLMessage.makeMessageId()

    /// Registers as the TIE service (its six request topics), like a TIE server, so requests reach it
    /// through the broker's routing, and subscribes to the external report topic.
    public func start() async throws {
        var handlers: [String: @Sendable (DXLMessage) -> Void] = [:]
        for topic in Self.servedTopics { handlers[topic] = { [weak self] request in self?.handle(request) } }
        try await client.registerService(ServiceRegistrationInfo(serviceType: Self.serviceType, serviceGuid: serviceGuid, metadata: ["server": "tiesim"],
                                                                 requestHandlers: handlers))
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
    package func process(_ request: DXLMessage) {
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
        // A lookup asked again while the store is unchanged, within the same second of server time, gets
        // the bytes it got before: a lookup's answer depends only on those.
        let key = ReplyCache.key(for: request)
        let generation = store.generation, second = Self.now
        if let key, let bytes = replies.withLock({ $0.reply(for: key, generation: generation, second: second) }) {
            respond(to: request, with: .response(to: request, payload: bytes))
            observer?(request, nil)
            return
        }
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
        switch reply {
        case .json(let value):
            let bytes = value.serializedBytes(style: .python)
            if let key { replies.withLock { $0.keep(bytes, for: key, generation: generation, second: second) } }
            respond(to: request, with: .response(to: request, payload: bytes))
            observer?(request, nil)
        case .error(let code, let message):
            let response = DXLMessage.errorResponse(to: request, code: code, message: message)
            respond(to: request, with: response)
            observer?(request, message)
            journal?.record(response, kind: .errorReply, note: message)
        }
    }

    private func respond(to request: DXLMessage, with response: DXLMessage) {
        do {
            try client.send(response)
        } catch {
            logger.warning("could not answer \(request.messageId) on \(request.destinationTopic): \(error)")
        }
    }

}
