import Testing
@testable import DXL

@Suite("DXLClient's callback table")
struct CallbackTableTests {
    func registration(_ id: UInt64) -> DXLClient.Registration { .init(id: id, callback: { _ in }) }

    /// The ids of the callbacks a message on `topic` reaches (the lookup may keep what it resolved).
    func reached(_ table: inout DXLClient.CallbackTable, _ topic: String) -> Set<UInt64> { Set(table.callbacks(for: topic).map(\.id)) }

    @Test("a message reaches the callbacks of its topic and of the wildcards above it; removal and later additions count at once")
    func wildcards() {
        var table = DXLClient.CallbackTable()
        table.add(registration(1), topic: "/a/b")
        #expect(reached(&table, "/a/b") == [1])
        #expect(reached(&table, "/a/c").isEmpty)
        table.add(registration(2), topic: "/a/#")
        table.add(registration(3), topic: "#")
        #expect(reached(&table, "/a/b") == [1, 2, 3])
        #expect(reached(&table, "/a/c") == [2, 3])  // resolved now, kept for next time
        table.add(registration(4), topic: "/a/c")
        #expect(reached(&table, "/a/c") == [2, 3, 4])  // not the stale resolution
        let removals = [table.remove(2, topic: "/a/#"), table.remove(2, topic: "/a/#"), table.remove(1, topic: "/a/c")]
        #expect(removals == [true, false, false])
        #expect(reached(&table, "/a/c") == [3, 4])
        #expect(table.byTopic["/a/#"] == nil)
    }
}
