import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// Injected faults, as the Python dxltieclient and the Swift client see them; the simulator keeps serving.
@Suite("Fault injection", .timeLimit(.minutes(3)))
struct FaultTests {
    static let yaml = """
    settings: {seed: faults}
    files:
      GOOD.EXE:
        reputations: {GTI: KNOWN_TRUSTED}
      SLOW.EXE:
      BROKEN.EXE:
      LOST.EXE:
      GARBLED.EXE:
    faults:
      - {name: slow, request: get_file_reputation, file: SLOW.EXE, delay: 1500ms}
      - {name: overloaded, request: get_file_reputation, file: BROKEN.EXE, error: {code: "0x80000002", message: service is overloaded}}
      - {name: lost once, request: get_file_reputation, file: LOST.EXE, drop: 1, times: 1}
      - {name: garbled, request: get_file_reputation, file: GARBLED.EXE, malformed: true}
    """

    static func hashes(_ fabric: SimulatedFabric, _ name: String) -> [String: String] {
        guard let record = fabric.store.file(named: name) else { return [:] }
        return ["md5": record.md5 ?? ""]
    }

    static func request(_ fabric: SimulatedFabric, _ name: String) -> String {
        let md5 = hashes(fabric, name)["md5"] ?? ""
        return #"{"hashes": [{"type": "md5", "value": "\#((try? HashEncoding.base64(hex: md5)) ?? "")"}], "scanType": 3}"#
    }

    @Test("the Python dxltieclient: a delay is waited out, an error raises, a drop times out, a malformed answer raises; then all is served")
    func python() async throws {
        try await withFabric(Self.yaml) { fabric in
            let good = Self.hashes(fabric, "GOOD.EXE")
            let results = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": Self.hashes(fabric, "SLOW.EXE")]),
                ("get_file_reputation", ["hashes": Self.hashes(fabric, "BROKEN.EXE")]),
                ("raw_request", ["topic": TieTopic.getFileReputation, "payload": Self.request(fabric, "LOST.EXE"), "timeout": 2]),
                ("raw_request", ["topic": TieTopic.getFileReputation, "payload": Self.request(fabric, "LOST.EXE"), "timeout": 5]),
                ("get_file_reputation", ["hashes": Self.hashes(fabric, "GARBLED.EXE")]),
                ("get_file_reputation", ["hashes": good]),
            ])
            #expect((results[0]["elapsed"] as? Double ?? 0) >= 1.4)
            #expect(results[0]["result"] != nil)
            #expect(results[1]["error"] as? String == "Error: service is overloaded (2147483650)")
            #expect(results[2]["type"] as? String == "WaitTimeoutException")
            #expect((results[3]["result"] as? [String: Any])?["message_type"] as? Int == 1, "the fault fired once; the retry is served")
            #expect(results[4]["error"] != nil, "\(results[4])")
            #expect(try jsonValue(results[5]["result"] as Any)["1"]?["trustLevel"] == 99)
            let faults = fabric.journal.all.filter { $0.kind == .fault }.compactMap(\.note)
            #expect(faults == ["fault 'slow': answer delayed by 1.5 seconds", "fault 'overloaded': error 2147483650 service is overloaded",
                               "fault 'lost once': request dropped, no answer", "fault 'garbled': malformed answer"])
        }
    }

    @Test("the Swift client: a delay is waited out, an error is typed, a drop times out, a malformed answer is typed; then all is served")
    func swift() async throws {
        try await withFabric(Self.yaml) { fabric in
            let client = try await fabric.playerClientForTests()
            let tie = TieClient(client)
            func md5(_ name: String) -> [HashType: String] { [.md5: Self.hashes(fabric, name)["md5"] ?? ""] }
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await tie.getFileReputation(hashes: md5("SLOW.EXE"))
            #expect(clock.now - start >= .milliseconds(1400))
            do {
                _ = try await tie.getFileReputation(hashes: md5("BROKEN.EXE"))
                Issue.record("no error")
            } catch let error as TieError {
                guard case .errorResponse(let code, let message) = error else { Issue.record("\(error)"); return }
                #expect(code == 2_147_483_650 && message == "service is overloaded")
            }
            await #expect(throws: DXLError.self) {
                _ = try await client.request(.request(topic: TieTopic.getFileReputation, payload: Self.request(fabric, "LOST.EXE")), timeout: .seconds(1))
            }
            #expect(try await tie.getFileReputation(hashes: md5("LOST.EXE")).byProvider.isEmpty, "served: a known file without reputations")
            do {
                _ = try await tie.getFileReputation(hashes: md5("GARBLED.EXE"))
                Issue.record("no error")
            } catch let error as TieError {
                guard case .malformedResponse = error else { Issue.record("\(error)"); return }
            }
            #expect(try await tie.getFileReputation(hashes: md5("GOOD.EXE"))[FileProvider.gti]?.trustLevel == 99)
            await client.disconnect()
        }
    }

    @Test("a broker outage step: clients reconnect and resubscribe, the timeline resumes, the fake TIE keeps serving")
    func brokerOutage() async throws {
        let yaml = """
        files:
          A.EXE:
            reputations: {GTI: KNOWN_MALICIOUS}
        timeline:
          - name: before
            detection: {file: A.EXE, agentGuid: before}
          - brokerOutage: 1s
          - name: after
            detection: {file: A.EXE, agentGuid: after}
            after: 4s  # every client, not only the first to resubscribe, must be back (QoS 0)
        """
        try await withFabric(yaml) { fabric in
            let python = try tiePeer(["callbacks", fabric.clientConfigPath, "detection", "2", "60"])
            defer { python.stop() }
            try await python.waitForLine { $0 == "READY" }
            let swiftClient = try await fabric.playerClientForTests()
            let detections = EventInbox<String>()
            try await TieClient(swiftClient).addFileDetectionCallback { detections.append($0.agentGuid ?? "") }
            let results = try await fabric.play()
            #expect(results.map(\.step) == ["before", "brokerOutage (line 7)", "after"])
            try await python.waitForLine(timeout: .seconds(30)) { $0 == "DONE" }
            let seen = try python.output.filter { $0.hasPrefix("{") }.map { ((try PythonPeer.json($0)["dict"]) as? [String: Any])?["agentGuid"] as? String }
            #expect(seen == ["before", "after"])
            let swiftSeen = await detections.wait(for: 2, timeout: .seconds(15))
            #expect(swiftSeen == ["before", "after"])
            let faults = fabric.journal.all.filter { $0.kind == .fault }.compactMap(\.note)
            #expect(faults == ["broker stopped for 1.0 seconds", "broker back, player reconnected"])
            let answer = try await TieClient(swiftClient).getFileReputation(hashes: [.md5: fabric.store.file(named: "A.EXE")?.md5 ?? ""])
            #expect(answer[FileProvider.gti]?.trustLevel == 1)
            await swiftClient.disconnect()
        }
    }

    @Test("broker killed (SIGKILL) mid-timeline and restarted: the request in flight fails at once, events meanwhile are lost, all reconnect, the timeline finishes")
    // A 10-second step, so that the kill lands in the middle of it even when a busy machine delays delivery.
    func brokerKilled() async throws {
        let yaml = """
        files:
          A.EXE:
            reputations: {GTI: KNOWN_MALICIOUS}
          SLOW.EXE:
        timeline:
          - name: stream
            detection: {file: A.EXE}
            repeat: 400
            rate: 40/s
        faults:
          - {name: slow, request: get_file_reputation, file: SLOW.EXE, delay: 10s}
        """
        try await withFabric(yaml) { fabric in
            let subscriber = try await fabric.playerClientForTests()
            let received = EventInbox<String>()
            try await TieClient(subscriber).addFileDetectionCallback { received.append($0.name ?? "") }
            let requester = try await fabric.playerClientForTests()
            let tie = TieClient(requester)
            let play = Task { try await fabric.play() }
            #expect(await received.wait(for: 10, timeout: .seconds(20)).count >= 10)
            let slow = try #require(fabric.store.file(named: "SLOW.EXE")?.md5)
            let inFlight = Task { () -> (Result<TieReputations, any Error>, Duration) in
                let started = ContinuousClock.now
                do { return (.success(try await tie.getFileReputation(hashes: [.md5: slow])), ContinuousClock.now - started) }
                catch { return (.failure(error), ContinuousClock.now - started) }
            }
            // The request reached the fake TIE, and waits out its 10 s fault there.
            #expect(await eventually(timeout: .seconds(10)) { fabric.journal.all.contains { $0.kind == .fault } })
            let killedAt = ContinuousClock.now
            fabric.broker.kill()
            let (outcome, waited) = await inFlight.value
            #expect(throws: (any Error).self) { try outcome.get() }
            #expect(waited < .seconds(3), "the request in flight waited \(waited) instead of failing when the connection went")
            try await Task.sleep(for: .seconds(1))
            try await fabric.broker.restart()
            for client in [subscriber, requester] + fabric.internalClients {
                #expect(await client.waitUntilConnected(timeout: .seconds(15)), "\(client.clientId) did not reconnect")
            }
            let results = try await play.value
            #expect(results.map(\.step) == ["stream"])
            let recovery = ContinuousClock.now - killedAt
            let answer = try await tie.getFileReputation(hashes: [.md5: fabric.store.file(named: "A.EXE")?.md5 ?? ""])
            #expect(answer[FileProvider.gti]?.trustLevel == 1)
            let count = received.count
            #expect(count > 10 && count < 400, "QoS 0: events sent while the broker was down are lost (got \(count) of 400)")
            let notes = fabric.journal.all.filter { $0.kind == .fault }.compactMap(\.note)
            #expect(notes.contains { $0.hasPrefix("connection to the broker lost at event") }, "\(notes)")
            #expect(recovery < .seconds(15), "recovery took \(recovery)")
            await subscriber.disconnect()
            await requester.disconnect()
        }
    }

    @Test("mistakes in faults: are reported with their position")
    func mistakes() {
        let cases: [(String, String)] = [
            ("faults:\n  - {request: get_file_reputation, delay: soon}\n", "test.yaml:2:43: delay 'soon' is not a duration"),
            ("faults:\n  - {request: get_file_reputation}\n", "test.yaml:2:5: this fault does nothing"),
            ("faults:\n  - {request: get_file_reputation, drop: 2}\n", "test.yaml:2:42: drop must be a share between 0 and 1"),
            ("faults:\n  - {request: get_file_reputation, file: NOPE.EXE, malformed: true}\n", "test.yaml:2:42: unknown file 'NOPE.EXE'"),
        ]
        for (text, expected) in cases {
            do {
                _ = try ScenarioLoader.parse(text: "files:\n  A.EXE:\n" + text, file: "test.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                let shifted = expected.replacingOccurrences(of: "test.yaml:2:", with: "test.yaml:4:")
                #expect(error.description.hasPrefix(shifted), "\(error.description)")
            }
        }
    }
}

