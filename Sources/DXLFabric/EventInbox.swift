import Synchronization

/// What `EventInbox.next` throws when nothing arrived in time.
public struct InboxTimeout: Error, CustomStringConvertible {
    /// What was waited for ("a detection").
    public let waitingFor: String
    public let after: Duration

    public var description: String { "timed out after \(after) waiting for \(waitingFor)" }
}

/// Collects what a callback delivers, for a test to wait on: the next value in turn (`next`), or until
/// so many have arrived (`wait(for:)`). Keeps every value (`all`), so a test sees the whole history.
/// Waiting suspends (no polling) and ends on time-out or task cancellation.
///
/// Threading: `append` from any thread (callbacks run on the network thread); the rest from any task.
public final class EventInbox<Element: Sendable>: Sendable {
    private struct Waiter {
        let id: UInt64
        /// How many values must have arrived.
        let needed: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var values: [Element] = []
        /// How many values `next` has handed out.
        var taken = 0
        var waiters: [Waiter] = []
        var nextId: UInt64 = 0
    }

    private let state = Mutex(State())
    private let what: String

    /// An inbox for values described as `what` in time-out errors.
    public init(_ what: String = "an event") {
        self.what = what
    }

    /// Adds a value (the callback).
    public func append(_ value: Element) {
        let ready = state.withLock { state -> [Waiter] in
            state.values.append(value)
            let count = state.values.count
            let ready = state.waiters.filter { $0.needed <= count }
            if !ready.isEmpty { state.waiters.removeAll { $0.needed <= count } }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// The next value not yet taken, waiting at most `timeout`; throws `InboxTimeout`, or
    /// `CancellationError` when the task is cancelled.
    public func next(timeout: Duration = .seconds(10)) async throws -> Element {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (value, needed) = state.withLock { state -> (Element?, Int) in
                guard state.taken < state.values.count else { return (nil, state.taken + 1) }
                state.taken += 1
                return (state.values[state.taken - 1], 0)
            }
            if let value { return value }
            try Task.checkCancellation()
            guard ContinuousClock.now < deadline else { throw InboxTimeout(waitingFor: what, after: timeout) }
            // Another `next` may take the value that ends this wait: then this one waits again.
            await arrival(of: needed, until: deadline)
        }
    }

    /// Waits until `count` values have arrived in all (taken or not), at most `timeout`; returns every
    /// value that arrived (fewer than `count` when the time ran out or the task was cancelled).
    @discardableResult
    public func wait(for count: Int, timeout: Duration = .seconds(10)) async -> [Element] {
        await arrival(of: count, until: ContinuousClock.now + timeout)
        return all
    }

    /// Every value that arrived, oldest first.
    public var all: [Element] { state.withLock { $0.values } }
    /// How many values arrived.
    public var count: Int { state.withLock { $0.values.count } }
    /// Values that arrived and were not taken by `next` yet.
    public var pending: [Element] { state.withLock { Array($0.values[$0.taken...]) } }

    /// Suspends until `needed` values have arrived, `deadline` passes or the task is cancelled.
    private func arrival(of needed: Int, until deadline: ContinuousClock.Instant) async {
        let id = state.withLock { state in
            state.nextId += 1
            return state.nextId
        }
        /// Ends the wait `id` (its time is up, or its task was cancelled).
        @Sendable func release(_ inbox: EventInbox?) {
            let waiting = inbox?.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiting?.continuation.resume()
        }
        let timer = Mutex<Task<Void, Never>?>(nil)
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let arrived = state.withLock { state -> Bool in
                    if state.values.count >= needed { return true }
                    state.waiters.append(Waiter(id: id, needed: needed, continuation: continuation))
                    return false
                }
                if arrived {
                    continuation.resume()
                    return
                }
                // Cancelled before waiting: the handler found nothing to end.
                if Task.isCancelled { release(self) }
                timer.withLock {
                    $0 = Task { [weak self] in
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        release(self)
                    }
                }
            }
        } onCancel: { [weak self] in
            release(self)
        }
        timer.withLock { $0?.cancel() }  // the timer task ends now, not at the deadline
    }
}
