import CMosquitto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

// Flow control for QoS 0 bursts: the count of publishes libmosquitto holds unwritten, and the tasks
// waiting for it to fall.
extension MQTTTransport {
    /// How many publishes are queued in libmosquitto and not yet written to the socket.
    public var unwrittenPublishes: Int { max(0, unwritten.load(ordering: .relaxed)) }

    /// Waits until at most `limit` publishes are unwritten, or the connection is gone (libmosquitto then
    /// drops what it had not written). The network thread wakes the task when the count falls to
    /// `limit`: a producer waiting for room costs one wake-up per wait, not a timer that polls.
    public func waitUntilUnwritten(atMost limit: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = state.withLock { state -> Bool in
                if !state.isConnected || unwritten.load(ordering: .sequentiallyConsistent) <= limit { return false }
                state.drainWaiters.append((limit, continuation))
                updateDrainThreshold(state.drainWaiters)
                return true
            }
            guard waiting else { return continuation.resume() }
            // The last write may have happened before the threshold was set: look again now that it is (the
            // publish callback decrements, then reads the threshold; this stored it, and now reads).
            wakeDrainWaiters()
        }
    }

    /// Drops the count of unwritten publishes, whose packets libmosquitto has dropped or will drop (a
    /// lost connection, a shutdown, or a new connect, which empties libmosquitto's queue without
    /// callbacks), and wakes every waiter.
    func forgetUnwritten() {
        unwrittenResets.add(1, ordering: .sequentiallyConsistent)
        unwritten.store(0, ordering: .sequentiallyConsistent)
        wakeDrainWaiters(all: true)
    }

    /// Resumes the tasks in `waitUntilUnwritten` whose count is reached (`all`: every one, the
    /// connection being gone).
    func wakeDrainWaiters(all: Bool = false) {
        let left = unwritten.load(ordering: .sequentiallyConsistent)
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let ready = state.drainWaiters.filter { all || left <= $0.limit }.map(\.continuation)
            state.drainWaiters.removeAll { all || left <= $0.limit }
            updateDrainThreshold(state.drainWaiters)
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Publishes the highest count a waiter waits for (-1: none waits); called under the lock.
    func updateDrainThreshold(_ waiters: [(limit: Int, continuation: CheckedContinuation<Void, Never>)]) {
        drainThreshold.store(waiters.map(\.limit).max() ?? -1, ordering: .sequentiallyConsistent)
    }
}
