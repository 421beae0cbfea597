import Foundation
import Logging
import Synchronization

// Requests: sent, waited for (or called back), expired, cancelled.
extension DXLClient {
    /// Sends `request` and waits for its response (a Response or an ErrorResponse, which is returned,
    /// not thrown, as `dxlclient`'s `sync_request` does). Throws `DXLError.timeout` after `timeout`, and
    /// `DXLError.cancelled` at once when the waiting task is cancelled.
    public func request(_ request: DXLMessage, timeout: Duration = .seconds(3600)) async throws(DXLError) -> DXLMessage {
        let id = request.messageId
        let cancelled = DXLError.cancelled(topic: request.destinationTopic, messageId: id)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<DXLMessage, any Error>) in
                    startRequest(request, timeout: timeout, continuation: continuation, callback: nil)
                    // Cancelled before the request was pending: the handler found nothing to end.
                    if Task.isCancelled { finish(id, with: .failure(cancelled)) }
                }
            } onCancel: {
                finish(id, with: .failure(cancelled))
            }
        } catch let error as DXLError {
            throw error
        } catch {
            throw .notConnected
        }
    }

    /// Sends `request`; `callback` gets the response (or error response) or a timeout, exactly once.
    public func asyncRequest(_ request: DXLMessage, timeout: Duration = .seconds(3600), callback: @escaping @Sendable (Result<DXLMessage, DXLError>) -> Void) {
        startRequest(request, timeout: timeout, continuation: nil, callback: callback)
    }

    /// Records `request` as pending (answered through `continuation` or `callback`), stamps it and sends it.
    func startRequest(_ request: DXLMessage, timeout: Duration, continuation: CheckedContinuation<DXLMessage, any Error>?,
                              callback: (@Sendable (Result<DXLMessage, DXLError>) -> Void)?) {
        var request = request
        request.type = .request
        request.replyToTopic = replyToTopic
        let pending = PendingRequest(topic: request.destinationTopic, continuation: continuation, callback: callback, deadline: .now + timeout, timeout: timeout)
        state.withLock { $0.pending[request.messageId] = pending }
        do {
            try publish(request, remember: mayReturn(request.destinationTopic))
        } catch {
            finish(request.messageId, with: .failure(error))
            return
        }
        // One task per client expires timed-out requests (every 10 ms), instead of a timer task per
        // request: requests stay cheap under load, and their memory is released when they end.
        let startReaper = state.withLock { state -> Bool in
            guard !state.reaperRunning, !state.pending.isEmpty else { return false }
            state.reaperRunning = true
            return true
        }
        if startReaper {
            Task { [weak self] in await self?.expireRequests() }
        }
    }

    func expireRequests() async {
        while true {
            try? await Task.sleep(for: .milliseconds(10))
            let now = ContinuousClock.now
            let (expired, keepRunning) = state.withLock { state -> ([(String, PendingRequest)], Bool) in
                let expired = state.pending.filter { $0.value.deadline <= now }
                for (id, _) in expired { state.pending[id] = nil }
                if state.pending.isEmpty { state.reaperRunning = false }
                return (Array(expired), !state.pending.isEmpty)
            }
            for (id, request) in expired {
                let error = DXLError.timeout(topic: request.topic, messageId: id, timeout: request.timeout)
                request.continuation?.resume(throwing: error)
                request.callback?(.failure(error))
            }
            if !keepRunning { return }
        }
    }

    func finish(_ id: String, with result: Result<DXLMessage, DXLError>) {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if let continuation = pending.continuation {
            continuation.resume(with: result.mapError { $0 as any Error })
        }
        pending.callback?(result)
    }
}
