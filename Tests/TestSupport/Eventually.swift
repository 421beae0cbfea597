import Foundation

/// Polls `condition` every `interval` until it holds or `timeout` has passed; returns whether it held.
/// For conditions nothing announces (a file's content, a process's state); what a callback delivers is
/// waited for with an `EventInbox`.
@discardableResult
public func eventually(timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while try await !condition() {
        guard clock.now < deadline else { return false }
        try? await Task.sleep(for: interval)
    }
    return true
}
