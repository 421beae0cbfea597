import DXL
import Foundation
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

    @Test("a verification says how many entries the bound dropped, so a partial journal is never mistaken for a whole one")
    func droppedIsReported() async {
        let journal = Journal(limit: 100)
        for index in 0..<250 {
            journal.record(.event(topic: "/mcafee/event/tie/file/detection", payload: Array("\(index)".utf8)), kind: .event)
        }
        let report = await VerificationReport.check([], steps: [], journal: journal, settle: .zero)
        #expect(report.journalDropped == 150)
        #expect(report.summary.contains("the journal dropped its 150 oldest entries"))
        let whole = Journal()
        whole.record(.event(topic: "/x", payload: []), kind: .event)
        let complete = await VerificationReport.check([], steps: [], journal: whole, settle: .zero)
        #expect(complete.journalDropped == 0 && !complete.summary.contains("dropped"))
    }

    @Test("reading page by page after an offset gives every kept entry once, in order")
    func pages() {
        let journal = Journal(limit: 500)
        for index in 0..<1_200 { journal.record(.event(topic: "/p", payload: Array("\(index)".utf8)), kind: .event) }
        var read: [JournalEntry] = []
        var after: Double?
        while true {
            let (page, matching) = journal.entries(afterMs: after, count: 37)
            #expect(matching == 500 - read.count)
            read += page
            guard page.count < matching, let last = page.last else { break }
            after = last.offset.inSeconds * 1000
        }
        #expect(read.map(\.rawPayload) == journal.all.map(\.rawPayload))
        #expect(read.first?.rawPayload == Array("700".utf8))
        let (beyond, none) = journal.entries(afterMs: (journal.all.last?.offset.inSeconds ?? 0) * 1000, count: 10)
        #expect(beyond.isEmpty && none == 0)
        #expect(journal.entries(afterMs: -1, count: 0).matching == 500)
    }

    @Test("entries recorded from many threads at once stand in the order of their offsets")
    func orderUnderConcurrency() async {
        let journal = Journal()
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in 0..<2_000 { journal.record(.event(topic: "/w/\(writer)", payload: Array("\(index)".utf8)), kind: .event) }
                }
            }
        }
        let offsets = journal.all.map(\.offset)
        #expect(offsets.count == 16_000)
        #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test("it is bounded in bytes too: large payloads push the oldest out, the newest stays")
    func byteBound() {
        let journal = Journal(limit: 100_000, byteLimit: 1 << 20)
        let big = [UInt8](repeating: 0x41, count: 100_000)
        for index in 0..<400 {
            journal.record(.request(topic: "/t/\(index)", payload: big), kind: .request)
        }
        #expect(journal.recordedCount == 400)
        #expect(journal.keptBytes <= (1 << 20) + (1 << 20) / 10)
        #expect(journal.all.count < 15)
        #expect(journal.all.last?.topic == "/t/399")
        #expect(journal.keptBytes == journal.all.reduce(0) { $0 + Journal.cost($1) })
        // One entry larger than the bound is still kept (the newest always is).
        journal.record(.request(topic: "/huge", payload: [UInt8](repeating: 0, count: 3 << 20)), kind: .request)
        #expect(journal.all.last?.topic == "/huge")
    }
}

@Suite("The report's timeline drawing")
struct TimelineDrawingTests {
    @Test("each journal kind is drawn as its own mark; client requests and events in the client's lane, the rest in tiesim's")
    func marksByKind() {
        let kinds: [JournalEntry.Kind] = [.request, .event, .step, .errorReply, .fault, .denied]
        let entries = kinds.enumerated().map { index, kind in
            JournalEntry(kind: kind, time: Date(), offset: .milliseconds(index), topic: "/acme/\(kind.rawValue)", messageId: "m\(index)",
                         source: "{app}", payload: .null)
        }
        let (lanes, marks) = TimelineDrawing.marks(entries)
        #expect(marks.map(\.kind.rawValue) == kinds.map(\.rawValue))
        #expect(lanes == ["tiesim", "{app}"])
        #expect(marks.map(\.lane) == [1, 1, 0, 0, 0, 0])
    }
}
