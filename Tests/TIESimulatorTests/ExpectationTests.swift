import DXL
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TIE
import Testing
@testable import TIESimulator

/// A journal entry at `seconds` into the run.
func entry(_ kind: JournalEntry.Kind, _ topic: String, at seconds: Double, _ payload: JSONValue = .null, note: String? = nil) -> JournalEntry {
    JournalEntry(kind: kind, time: Date(timeIntervalSince1970: 0), offset: .milliseconds(Int64(seconds * 1000)), topic: topic,
                 messageId: "{m}", source: "client", payload: payload, note: note)
}

let quarantineText = """
files:
  A.EXE:
    md5: eb5e2b9dc51817a086d7b97eb52410ab
timeline:
  - name: the detection
    detection: {file: A.EXE}
expect:
  - name: convicted
    request: set_file_reputation
    where:
      trustLevel: KNOWN_MALICIOUS
      comment: {contains: quarantine}
      hashes.md5: {file: A.EXE}
    count: {exactly: 1}
    within: 5s
    after: the detection
  - name: no zero reports
    event: external_report
    where: {file.reputation.score: 0}
    count: 0
  - name: three lookups
    request: get_file_first_references
    count: 3
  - name: big limits only
    request: /mcafee/service/tie/file/agents
    where: {queryLimit: {">=": 100}, filename: {regex: "^[a-z]+\\\\.exe$"}}
    count: {atMost: 0}
"""

@Suite("Expectations")
struct ExpectationTests {
    let scenario: Scenario
    init() throws { scenario = try ScenarioLoader.parse(text: quarantineText, file: "q.yaml") }

    func result(_ name: String, _ entries: [JournalEntry]) throws -> ExpectationResult {
        ExpectationChecker.evaluate(try #require(scenario.expectations.first { $0.name == name }), on: entries)
    }

    static let set: JSONValue = ["trustLevel": 1, "providerId": 3, "comment": "quarantine now", "hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab"]]

    @Test("a set within the window after the step passes")
    func setWithinWindow() throws {
        let entries = [entry(.step, TieTopic.fileDetection, at: 1, note: "the detection"), entry(.request, TieTopic.setFileReputation, at: 3, Self.set)]
        #expect(try result("convicted", entries).passed)
    }

    @Test("a set after the window, or before the step, or with another comment fails with the expectation, its line and what came instead")
    func setOutsideWindow() throws {
        let late = [entry(.step, TieTopic.fileDetection, at: 1, note: "the detection"), entry(.request, TieTopic.setFileReputation, at: 7, Self.set)]
        let failed = try result("convicted", late)
        #expect(!failed.passed)
        #expect(failed.message == """
        q.yaml:8:5: expectation 'convicted' failed: expected exactly 1 request on /mcafee/service/tie/file/reputation/set where trustLevel = "KNOWN_MALICIOUS" and comment contains 'quarantine' and hashes.md5 is a hash of A.EXE within 5.0 seconds after step 'the detection'; saw 0 matching
          closest journal entries:
            +7.000s request /mcafee/service/tie/file/reputation/set {"comment": "quarantine now", "hashes": {"md5": "eb5e2b9dc51817a086d7b97eb52410ab"}, "providerId": 3, "trustLevel": 1}
        """)
        var other = Self.set
        other["comment"] = "looks bad"
        #expect(!(try result("convicted", [entry(.step, "/x", at: 0, note: "the detection"), entry(.request, TieTopic.setFileReputation, at: 1, other)]).passed))
        var wrongFile = Self.set
        wrongFile["hashes"] = ["md5": "00000000000000000000000000000000"]
        #expect(!(try result("convicted", [entry(.step, "/x", at: 0, note: "the detection"), entry(.request, TieTopic.setFileReputation, at: 1, wrongFile)]).passed))
        #expect(!(try result("convicted", [entry(.request, TieTopic.setFileReputation, at: 1, Self.set)]).passed), "the step never started")
    }

    @Test("exactly one: two sets fail")
    func exactlyOne() throws {
        let entries = [entry(.step, "/x", at: 0, note: "the detection"), entry(.request, TieTopic.setFileReputation, at: 1, Self.set), entry(.request, TieTopic.setFileReputation, at: 2, Self.set)]
        let failed = try result("convicted", entries)
        #expect(!failed.passed && failed.matched.count == 2)
    }

    @Test("count 0: a matching event fails, a different one passes")
    func never() throws {
        let zero: JSONValue = ["file": ["reputation": ["score": 0]]]
        let seventy: JSONValue = ["file": ["reputation": ["score": 70]]]
        #expect(!(try result("no zero reports", [entry(.event, TieTopic.externalFileReport, at: 1, zero)]).passed))
        #expect(try result("no zero reports", [entry(.event, TieTopic.externalFileReport, at: 1, seventy)]).passed)
        #expect(try result("no zero reports", []).passed)
    }

    @Test("exact counts, numeric comparisons and regular expressions")
    func countsAndComparisons() throws {
        let lookup = entry(.request, TieTopic.getFileFirstReferences, at: 1, ["queryLimit": 500, "filename": "notepad.exe"])
        #expect(try result("three lookups", [lookup, lookup, lookup]).passed)
        let two = try result("three lookups", [lookup, lookup])
        #expect(!two.passed)
        #expect(two.message.hasPrefix("q.yaml:21:5: expectation 'three lookups' failed: expected exactly 3 requests on /mcafee/service/tie/file/agents; saw 2 matching"))
        #expect(!(try result("big limits only", [lookup]).passed))
        #expect(try result("big limits only", [entry(.request, TieTopic.getFileFirstReferences, at: 1, ["queryLimit": 5, "filename": "notepad.exe"])]).passed)
        #expect(try result("big limits only", [entry(.request, TieTopic.getFileFirstReferences, at: 1, ["queryLimit": 500, "filename": "Notepad.EXE"])]).passed)
    }

    @Test("mistakes in expect: are reported with their position")
    func mistakes() {
        #expect(problems("files:\n  A.EXE:\nexpect:\n  - request: set_file_reputaton\n") == ["bad.yaml:4:14: unknown request 'set_file_reputaton' — did you mean 'set_file_reputation'?"])
        #expect(problems("files:\n  A.EXE:\nexpect:\n  - event: detection\n    after: nowhere\n") == ["bad.yaml:5:12: no step is named 'nowhere' — add name: to the step"])
        #expect(problems("files:\n  A.EXE:\nexpect:\n  - event: detection\n    count: {atleast: 1}\n") == ["bad.yaml:5:13: unknown count 'atleast' — did you mean 'atLeast'?"])
        #expect(problems("files:\n  A.EXE:\nexpect:\n  - event: detection\n    where: {name: {contain: x}}\n") == ["bad.yaml:5:20: unknown condition 'contain' — did you mean 'contains'?"])
        #expect(problems("files:\n  A.EXE:\nexpect:\n  - name: x\n") == ["bad.yaml:4:5: an expectation needs request: or event: — name the request (a topic or a dxltieclient method such as set_file_reputation) or the event"])
    }

    @Test("JUnit has a test case per step and per expectation, with the failure message")
    func junit() throws {
        let entries = [entry(.step, TieTopic.fileDetection, at: 0, note: "the detection"), entry(.request, TieTopic.setFileReputation, at: 1, Self.set)]
        let report = VerificationReport(
            steps: [ScenarioPlayer.StepResult(scenario: "q", step: "the detection", line: 6, source: "q.yaml", topic: TieTopic.fileDetection, sent: 1, started: Date(), duration: .milliseconds(5), error: nil)],
            expectations: scenario.expectations.map { ExpectationChecker.evaluate($0, on: entries) }, journal: entries)
        let xml = Reports.junit(report)
        let document = try XMLDocument(xmlString: xml)
        let cases = try document.nodes(forXPath: "//testcase")
        #expect(cases.count == 5)
        let failures = try document.nodes(forXPath: "//testcase[failure]/@name").compactMap(\.stringValue)
        #expect(failures == ["three lookups"])
        #expect(!report.passed)
        let lines = Reports.journalLines(entries).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(try JSONValue.parse(String(lines[1]))["payload"]?["comment"] == "quarantine now")
        #expect(Reports.html(report).contains("three lookups"))
    }
}
