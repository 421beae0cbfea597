import DXL
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

@Suite("Record and replay", .timeLimit(.minutes(3)))
struct RecordReplayTests {
    static let original = """
    files:
      FOCUS_MALWARE2.EXE:
        md5: eb5e2b9dc51817a086d7b97eb52410ab
        sha1: 435dfd470f727437c7cb4f07cba1f9a1f4272656
        reputations:
          GTI: {trustLevel: KNOWN_MALICIOUS, createDate: 1481301796, attributes: {ORIGINAL_RESPONSE: "2139160704"}}
        firstReferences:
          - {agentGuid: "{68125cd6-a5d8-11e6-348e-000c29663178}", date: 1481301796}
      MORPH.EXE:
        md5: 31dbe8cc443d2ca7fd236ac00a52fb17
    timeline:
      - detection: {file: FOCUS_MALWARE2.EXE, agentGuid: "{a}", detectionTime: 1481301796}
      - firstInstance: {file: MORPH.EXE, agentGuid: "{b}"}
        after: 1s
      - event: {topic: /mcafee/event/tie/file/detection, payload: {custom: true}}
        after: 1s
    """

    static func events(_ journal: [JournalEntry]) -> [String] {
        journal.filter { $0.kind == .event && $0.topic.hasPrefix("/mcafee/event/tie/") }.map { "\($0.topic) \($0.payload.serialized())" }
    }

    @Test("a recording of a played scenario replays to the same events and answers the same lookups")
    func recordThenReplay() async throws {
        let out = NSTemporaryDirectory() + "recorded-\(UUID().uuidString.prefix(8)).yaml"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var originalEvents: [String] = []
        var originalOffsets: [Duration] = []
        var originalReputation: JSONValue = .null
        try await withFabric(Self.original) { fabric in
            // Seeing every request is a control-plane privilege: the recorder uses the controlling certificate.
            let recorder = try TiesimProcess(["record", "--config", fabric.clientConfigPath, "--out", out, "--count", "3"])
            defer { recorder.cleanUp() }
            try await recorder.waitForOutput("tiesim recording")
            let lookups = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab"]]),
                ("get_file_first_references", ["hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab"]]),
            ])
            originalReputation = try jsonValue(lookups[0]["result"] as Any)
            _ = try await fabric.play()
            #expect(try await recorder.waitForExit(timeout: .seconds(30)) == 0, "\(recorder.output)")
            #expect(recorder.output.contains("tiesim recorded 3 events to \(out)"))
            originalEvents = Self.events(fabric.journal.all)
            originalOffsets = fabric.journal.all.filter { $0.kind == .event && $0.topic.hasPrefix("/mcafee/event/tie/") }.map(\.offset)
        }
        let recorded = try String(contentsOfFile: out, encoding: .utf8)
        let scenario = try ScenarioLoader.parse(text: recorded, file: out)
        #expect(scenario.timeline.count == 3)
        #expect(scenario.file(named: "FOCUS_MALWARE2.EXE")?.firstReferences.first?.agentGuid == "{68125cd6-a5d8-11e6-348e-000c29663178}")
        try await withFabric(paths: [out]) { replay in
            let results = try await replay.play()
            #expect(results.count == 3)
            // The last event may still be on its way to the journal.
            await eventually(timeout: .seconds(5)) { Self.events(replay.journal.all).count >= originalEvents.count }
            let replayed = Self.events(replay.journal.all)
            #expect(replayed == originalEvents)
            // The spacing: the recording keeps the original's (both seen as events arrived, in the same run),
            // and the replay plays the recording's (step start times, which do not depend on delivery).
            let seconds = { (duration: Duration) in Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
            let originalGap = seconds(originalOffsets[2] - originalOffsets[0])
            let recordedGap = seconds((scenario.timeline[2].at ?? .zero) - (scenario.timeline[0].at ?? .zero))
            let replayGap = results[2].started.timeIntervalSince(results[0].started)
            // (Seconds apart, so that a busy machine's scheduling jitter, up to about half a second when the whole
            // suite runs on two cores, cannot pass for a spacing that was lost or doubled.)
            #expect(abs(recordedGap - originalGap) < 0.5, "original spacing \(originalGap) s, recorded \(recordedGap) s")
            #expect(abs(replayGap - recordedGap) < 0.75, "recorded spacing \(recordedGap) s, replayed \(replayGap) s")
            #expect(recordedGap > 1.5, "the original steps were 2 s apart; recorded \(recordedGap) s")
            let answer = try await pythonTieCalls(replay, [("get_file_reputation", ["hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab"]])])
            #expect(try jsonValue(answer[0]["result"] as Any) == originalReputation)
        }
    }
}
