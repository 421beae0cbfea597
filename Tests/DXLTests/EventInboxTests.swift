import DXLFabric
import Foundation
import Testing

@Suite("EventInbox", .timeLimit(.minutes(1)))
struct EventInboxTests {
    @Test("next hands out values in order, once each; all, count and pending tell what came and what is left")
    func order() async throws {
        let inbox = EventInbox<Int>("a number")
        for value in [3, 1, 2] { inbox.append(value) }
        #expect(try await inbox.next() == 3)
        #expect(try await inbox.next() == 1)
        #expect(inbox.pending == [2])
        #expect(inbox.all == [3, 1, 2])
        #expect(inbox.count == 3)
        #expect(try await inbox.next() == 2)
        #expect(inbox.pending.isEmpty)
    }

    @Test("a waiting next and wait(for:) wake on the append from another thread; two waiting nexts get one value each")
    func wakes() async throws {
        let inbox = EventInbox<Int>()
        async let first = inbox.next(timeout: .seconds(20))
        async let second = inbox.next(timeout: .seconds(20))
        async let three = inbox.wait(for: 3, timeout: .seconds(20))
        let feeder = Thread {
            for value in 1...3 { inbox.append(value) }
        }
        feeder.start()
        let taken = try await [first, second].sorted()
        #expect(taken.count == 2 && Set(taken).count == 2 && taken.allSatisfy { (1...3).contains($0) })
        #expect(await three == [1, 2, 3])
    }

    @Test("time-outs: next throws InboxTimeout naming what it waited for; wait(for:) returns what came")
    func timeouts() async throws {
        let inbox = EventInbox<Int>("a number")
        inbox.append(1)
        #expect(await inbox.wait(for: 2, timeout: .milliseconds(50)) == [1])
        _ = try await inbox.next()
        do {
            _ = try await inbox.next(timeout: .milliseconds(50))
            Issue.record("no time-out")
        } catch let timeout as InboxTimeout {
            #expect(timeout.description.contains("a number"))
        }
    }

    @Test("a cancelled wait ends at once with CancellationError; a value that came later is still there")
    func cancellation() async throws {
        let inbox = EventInbox<Int>("a number")
        let waiting = Task { try await inbox.next(timeout: .seconds(60)) }
        let clock = ContinuousClock()
        let cancelled = clock.now
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(clock.now - cancelled < .seconds(5), "the wait ignored cancellation")
        inbox.append(3)
        let counting = Task { await inbox.wait(for: 5, timeout: .seconds(60)) }
        counting.cancel()
        #expect(await counting.value == [3])  // what came, without the rest it waited for
        #expect(clock.now - cancelled < .seconds(5))
        inbox.append(7)
        #expect(try await inbox.next(timeout: .seconds(1)) == 3)
        #expect(try await inbox.next(timeout: .seconds(1)) == 7)
    }
}
