import Foundation
import Synchronization

/// Thread-safe collection of things callbacks deliver, with a polling wait.
public final class Inbox<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    public init() {}

    public func append(_ item: Element) { items.withLock { $0.append(item) } }
    public var all: [Element] { items.withLock { $0 } }
    public var count: Int { items.withLock { $0.count } }

    /// Waits until at least `count` items arrived or `timeout` passed; returns what arrived.
    @discardableResult
    public func wait(for count: Int, timeout: Duration = .seconds(10)) async -> [Element] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while self.count < count && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return all
    }
}

/// Polls `condition` every `interval` until it holds or `timeout` has passed; returns whether it held.
@discardableResult
public func eventually(timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while try !condition() {
        guard clock.now < deadline else { return false }
        try? await Task.sleep(for: interval)
    }
    return true
}
