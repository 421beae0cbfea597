import DXL
import Testing
@testable import TIESimulator

@Suite("Journal")
struct JournalTests {
    @Test("it keeps the newest entries up to its limit and counts every entry recorded")
    func boundAndCount() {
        let journal = Journal(limit: 100)
        for index in 0..<1_000 {
            journal.record(.event(topic: "/mcafee/event/tie/file/detection", payload: Array("\(index)".utf8)), kind: .event)
        }
        #expect(journal.recordedCount == 1_000)
        #expect(journal.all.count == 100)
        #expect(journal.all.first?.rawPayload == Array("900".utf8))
        #expect(journal.all.last?.rawPayload == Array("999".utf8))
        journal.clear()
        #expect(journal.recordedCount == 0)
        #expect(journal.all.isEmpty)
    }
}
