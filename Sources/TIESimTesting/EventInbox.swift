import Synchronization
import TIE

/// Collects what a callback delivers, so a test can wait for the next value with a timeout.
/// Threading: `append` from any thread (callbacks run on the network thread); `next` from any task.
public final class EventInbox<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Element?, Never>)] = []
        var nextId: UInt64 = 0
    }

    private let state = Mutex(State())
    private let what: String

    /// An inbox for values described as `what` in timeout errors.
    public init(_ what: String = "an event") {
        self.what = what
    }

    /// Adds a value (the callback).
    public func append(_ value: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            if state.waiters.isEmpty {
                state.buffer.append(value)
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        waiter?.resume(returning: value)
    }

    /// The next value, waiting at most `timeout`.
    public func next(timeout: Duration = .seconds(10)) async throws -> Element {
        let id = state.withLock { state in
            state.nextId += 1
            return state.nextId
        }
        /// Ends the wait `id` with nil (its time is up, or its task was cancelled).
        @Sendable func release(_ inbox: EventInbox?) {
            let waiting = inbox?.state.withLock { state -> CheckedContinuation<Element?, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiting?.resume(returning: nil)
        }
        let timer = Mutex<Task<Void, Never>?>(nil)
        let value: Element? = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Element? in
                    if !state.buffer.isEmpty { return state.buffer.removeFirst() }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let ready {
                    continuation.resume(returning: ready)
                    return
                }
                // Cancelled before waiting: the handler found nothing to end.
                if Task.isCancelled { release(self) }
                timer.withLock {
                    $0 = Task { [weak self] in
                        try? await Task.sleep(for: timeout)
                        release(self)
                    }
                }
            }
        } onCancel: { [weak self] in
            release(self)
        }
        timer.withLock { $0?.cancel() }  // the timer task ends now, not after `timeout`
        if value == nil, Task.isCancelled { throw CancellationError() }
        guard let value else { throw TIEFabricError.timedOut(waitingFor: what, after: timeout) }
        return value
    }

    /// Values that arrived and were not taken yet.
    public var pending: [Element] { state.withLock { $0.buffer } }
}

extension TieClient {
    /// An inbox of detections (subscribed when this returns).
    public func detectionInbox() async throws -> EventInbox<Detection> {
        let inbox = EventInbox<Detection>("a detection")
        try await addFileDetectionCallback { inbox.append($0) }
        return inbox
    }

    /// An inbox of first instances.
    public func firstInstanceInbox() async throws -> EventInbox<FirstInstance> {
        let inbox = EventInbox<FirstInstance>("a first instance")
        try await addFileFirstInstanceCallback { inbox.append($0) }
        return inbox
    }

    /// An inbox of file reputation changes.
    public func fileReputationChangeInbox() async throws -> EventInbox<ReputationChange> {
        let inbox = EventInbox<ReputationChange>("a file reputation change")
        try await addFileReputationChangeCallback { inbox.append($0) }
        return inbox
    }

    /// An inbox of certificate reputation changes.
    public func certificateReputationChangeInbox() async throws -> EventInbox<ReputationChange> {
        let inbox = EventInbox<ReputationChange>("a certificate reputation change")
        try await addCertificateReputationChangeCallback { inbox.append($0) }
        return inbox
    }
}
