import DXL
import Foundation
import Logging
import Synchronization

/// Requests waiting for the fake TIE, one FIFO per requester, served round-robin by one worker thread.
///
/// The network thread only decodes and enqueues, so it keeps reading even when requests arrive faster than
/// they can be answered: the backlog then sits here, bounded, instead of in mosquitto's unbounded queue
/// toward tiesim. A requester that floods the fabric fills only its own queue — requests beyond
/// `perRequesterLimit` waiting, or over its rate, are shed (the fake TIE answers them at once with
/// ErrorResponse 0x80000002 "service is overloaded") — and every other requester's request waits behind at most one of the flooder's, not all of them.
/// One worker keeps each requester's requests in order (a set, then a get, sees the set).
///
/// Threading: `submit` from the network thread; the handler runs there (inline) or on the worker thread.
final class FairRequestQueue: Sendable {
    private struct State {
        var queues: [String: [DXLMessage]] = [:]
        var heads: [String: Int] = [:]
        /// Requesters with waiting requests, in serving order.
        var ring: [String] = []
        var next = 0
        var waiting = 0
        var highWater = 0
        var shed: [String: Int] = [:]
        var shedTotal = 0
        var lastShedLog = ContinuousClock.now - .seconds(10)
        var lastPrune = ContinuousClock.now
        var closed = false
        /// Whether a request is being answered (by the worker, or inline by the thread that submitted it).
        var busy = false
        /// Per requester: tokens left and when they were last refilled (with a rate limit).
        var buckets: [String: (tokens: Double, refilled: ContinuousClock.Instant)] = [:]
        /// What answers a request (set by `start`, read under the lock each request already takes).
        var handler: (@Sendable (DXLMessage) -> Void)?
    }

    /// The most requests one requester may have waiting.
    let perRequesterLimit: Int
    /// The most requests per second one requester is served (0: no limit); a burst of one second is allowed.
    let perRequesterRate: Double
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let logger: Logger

    /// A queue whose worker answers with the handler given to `start`; requests submitted before are shed.
    init(perRequesterLimit: Int = 1_000, perRequesterRate: Double = 0, logger: Logger) {
        self.perRequesterLimit = max(1, perRequesterLimit)
        self.perRequesterRate = max(0, perRequesterRate)
        self.logger = logger
        let available = self.available, stopped = self.stopped
        let thread = Thread { [weak self] in
            Thread.current.threadDictionary[Self.workerKey] = true
            while true {
                available.wait()
                guard let self, let (request, handler) = self.take() else { break }
                handler(request)
                self.state.withLock { $0.busy = false }
            }
            stopped.signal()
        }
        thread.name = "tiesim fake TIE"
        thread.start()
    }

    /// The requester a request comes from: its reply topic names its client.
    /// Who sent `request`: the client id its broker stamped (tiesim's broker plugin stamps every request,
    /// so a client cannot pass for another by varying its reply-to topic), else its reply-to topic.
    static func requester(of request: DXLMessage) -> String {
        request.sourceClientId.isEmpty ? request.replyToTopic ?? "" : request.sourceClientId
    }

    /// What became of a submitted request.
    enum Outcome: Equatable {
        /// Answered at once on the submitting thread: nothing was waiting and the worker was idle.
        case answered
        /// Queued for the worker.
        case queued
        /// Shed: its requester had too many waiting or was over its rate.
        case shed
    }

    /// Answers `request` at once when nothing waits and the worker is idle (no thread hand-off at light
    /// load; nothing can overtake it, since only the network thread submits); otherwise queues it, or sheds
    /// it when its requester is over its limits.
    @discardableResult
    func submit(_ request: DXLMessage) -> Outcome {
        let requester = Self.requester(of: request)
        let (outcome, handler, report) = state.withLock { state -> (Outcome, (@Sendable (DXLMessage) -> Void)?, [String: Int]?) in
            guard !state.closed, let handler = state.handler else { return (.shed, nil, nil) }
            let waiting = state.queues[requester].map { $0.count - (state.heads[requester] ?? 0) } ?? 0
            var overRate = false
            if perRequesterRate > 0 && waiting < perRequesterLimit {  // no token spent on a request shed anyway
                let now = ContinuousClock.now
                var bucket = state.buckets[requester] ?? (perRequesterRate, now)
                bucket.tokens = min(perRequesterRate, bucket.tokens + (now - bucket.refilled).inSeconds * perRequesterRate)
                bucket.refilled = now
                if bucket.tokens >= 1 { bucket.tokens -= 1 } else { overRate = true }
                state.buckets[requester] = bucket
                // Requesters idle for 2 s are forgotten, at most once a second: the cost per request stays constant.
                if state.buckets.count > 10_000 && now - state.lastPrune >= .seconds(1) {
                    state.buckets = state.buckets.filter { now - $0.value.refilled < .seconds(2) }
                    state.lastPrune = now
                }
            }
            if waiting >= perRequesterLimit || overRate {
                state.shed[requester, default: 0] += 1
                state.shedTotal += 1
                let now = ContinuousClock.now
                guard now - state.lastShedLog >= .seconds(1) else { return (.shed, nil, nil) }
                state.lastShedLog = now
                defer { state.shed.removeAll() }
                return (.shed, nil, state.shed)
            }
            if state.waiting == 0 && !state.busy {
                state.busy = true
                return (.answered, handler, nil)
            }
            if state.queues[requester] == nil {
                state.queues[requester] = []
                state.heads[requester] = 0
                state.ring.append(requester)
            }
            state.queues[requester]!.append(request)
            state.waiting += 1
            state.highWater = max(state.highWater, state.waiting)
            return (.queued, nil, nil)
        }
        switch outcome {
        case .answered:
            handler?(request)
            state.withLock { $0.busy = false }
        case .queued:
            available.signal()
        case .shed:
            break
        }
        if let report {
            for (requester, count) in report.sorted(by: { $0.key < $1.key }) {
                logger.warning("fake TIE overloaded: shed \(count) requests from \(requester) (more than \(perRequesterLimit) waiting\(perRequesterRate > 0 ? " or over \(Int(perRequesterRate))/s" : "")); other requesters are served first")
            }
        }
        return outcome
    }

    /// Sets what answers requests; until then they are shed.
    func start(handler: @escaping @Sendable (DXLMessage) -> Void) {
        state.withLock { $0.handler = handler }
    }

    /// The next request, round-robin over requesters, with the handler to answer it; nil once closed.
    private func take() -> (DXLMessage, @Sendable (DXLMessage) -> Void)? {
        state.withLock { state in
            guard !state.closed, !state.ring.isEmpty, let handler = state.handler else { return nil }
            state.busy = true
            if state.next >= state.ring.count { state.next = 0 }
            let requester = state.ring[state.next]
            let head = state.heads[requester] ?? 0
            let request = state.queues[requester]![head]
            state.waiting -= 1
            if head + 1 == state.queues[requester]!.count {
                // Empty: forget the requester, so memory follows the requesters that are waiting.
                state.queues[requester] = nil
                state.heads[requester] = nil
                state.ring.remove(at: state.next)
            } else {
                state.heads[requester] = head + 1
                if head + 1 >= 1_024 && head + 1 >= state.queues[requester]!.count / 2 {
                    state.queues[requester]!.removeFirst(head + 1)
                    state.heads[requester] = 0
                }
                state.next += 1
            }
            return (request, handler)
        }
    }

    /// Requests waiting now; the most that ever waited; how many were shed.
    var statistics: (waiting: Int, highWater: Int, shed: Int) {
        state.withLock { ($0.waiting, $0.highWater, $0.shedTotal) }
    }

    private static let workerKey = "tiesim.fairRequestQueue.worker"

    /// Stops the worker after the request it is answering; waiting requests are dropped. (Called on the
    /// worker itself — the service released while answering — it does not wait for itself.)
    func close() {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        available.signal()
        if Thread.current.threadDictionary[Self.workerKey] as? Bool == true { return }
        stopped.wait()
    }
}
