import DXL
import DXLFabric
import Foundation
import TIE
import TIESimTesting
import TIESimulator
import TestSupport
import Synchronization
import Testing

let scenariosFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("scenarios").path

/// The Swift TieClient through the simulator and a real broker, with TIESimTesting's one-call fabric.
@Suite("Swift TieClient against the fake TIE fabric", .timeLimit(.minutes(3)))
struct SwiftTieClientTests {
    static let seedDict: JSONValue = [
        "agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "detectionTime": 1_481_301_796,
        "hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab", "sha1": "435dfd470f727437c7cb4f07cba1f9a1f4272656",
                   "sha256": "414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb"],
        "localReputation": 1, "name": "FOCUS_MALWARE2.EXE", "remediationAction": 5,
    ]
    static let notepad: [HashType: String] = [
        .md5: "f2c7bb8acc97f92e987a2d4087d021b1", .sha1: "7eb0139d2175739b3ccb0d1110067820be6abd29",
        .sha256: "142e1d688ef0568370c37187fd9f2351d7ddeda574f8bfa9b0fa4ef42db85aa2",
    ]

    @Test("tie: false brings the broker services up without the fake TIE: a Swift TIE service of the suite's own answers")
    func ownTieService() async throws {
        try await withTIEFabric(scenario: scenariosFolder + "/basic-detection.yaml", tie: false) { fabric in
            let server = try await fabric.connectedClient()
            try await server.registerService(ServiceRegistrationInfo(serviceType: "/mcafee/service/tie", requestHandlers: [TieTopic.getFileReputation: { request in
                try? server.send(.response(to: request, payload: #"{"reputations": [{"providerId": 1, "trustLevel": 85, "createDate": 1}], "props": {}}"#))
            }]))
            let tie = try await fabric.tieClient()
            let reputations = try await tie.getFileReputation(hashes: [.md5: "eb5e2b9dc51817a086d7b97eb52410ab"])
            #expect(reputations[FileProvider.gti]?.trustLevel == 85)
            #expect(reputations.byProvider.count == 1)
        }
    }

    @Test("verify checks the scenario's expectations against what the suite's client did; the journal shows it")
    func verifyExpectations() async throws {
        let yaml = """
            files:
              QUARANTINED.EXE:
                md5: 0123456789abcdef0123456789abcdef
            expect:
              - name: the application convicts the file
                request: set_file_reputation
                where:
                  trustLevel: KNOWN_MALICIOUS
                  hashes.md5: {file: QUARANTINED.EXE}
                count: {exactly: 1}
            """
        try await withTIEFabric(yaml: yaml) { fabric in
            let before = await fabric.verify(settle: .zero)
            #expect(!before.passed)  // nothing convicted yet
            let tie = try await fabric.tieClient()
            try await tie.setFileReputation(trustLevel: .knownMalicious, hashes: [.md5: "0123456789abcdef0123456789abcdef"], filename: "QUARANTINED.EXE")
            let after = await fabric.verify(settle: .milliseconds(200))
            #expect(after.passed, "\(after.summary)")
            #expect(fabric.journal.contains { $0.kind == .request && $0.topic == TieTopic.setFileReputation })
        }
    }

    @Test("the detection callback fires with the seed's dictionary and typed fields")
    func seedDetection() async throws {
        try await withTIEFabric(scenario: scenariosFolder + "/basic-detection.yaml") { fabric in
            let tie = try await fabric.tieClient()
            let detections = try await tie.detectionInbox()
            fabric.startPlaying()
            let detection = try await detections.next(timeout: .seconds(20))
            #expect(detection.dictionary == Self.seedDict)
            #expect(detection.dictionary == fabric.expectedDictionary(step: 0))
            #expect(detection.agentGuid == "{68125cd6-a5d8-11e6-348e-000c29663178}")
            #expect(detection.hashes["md5"] == "eb5e2b9dc51817a086d7b97eb52410ab")
            #expect(detection.localReputation == TrustLevel.knownMalicious.rawValue)
            #expect(detection.remediationAction == 5)
            #expect(detection.event.destinationTopic == TieTopic.fileDetection)
        }
    }

    @Test("detections arrive as an async sequence too")
    func asyncSequence() async throws {
        try await withTIEFabric(yaml: "files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    repeat: 5\n    agents: 5\n") { fabric in
            let tie = try await fabric.tieClient()
            let stream = try await tie.detectionStream()
            fabric.startPlaying()
            var agents = Set<String>()
            for await detection in stream {
                agents.insert(detection.agentGuid ?? "")
                if agents.count == 5 { break }
            }
            #expect(agents.count == 5)
        }
    }

    @Test("first instance, file and certificate reputation-change callbacks fire with the scenario's values")
    func otherCallbacks() async throws {
        try await withTIEFabric(scenarios: [scenariosFolder + "/reputation-lifecycle.yaml", scenariosFolder + "/certificates.yaml"],
                                yaml: "files:\n  MORPH.EXE:\ntimeline:\n  - firstInstance: {file: MORPH.EXE, agentGuid: testGuid}\n") { fabric in
            let tie = try await fabric.tieClient()
            let changes = try await tie.fileReputationChangeInbox()
            let certificateChanges = try await tie.certificateReputationChangeInbox()
            let firstInstances = try await tie.firstInstanceInbox()
            fabric.startPlaying()
            let levels = [try await changes.next(timeout: .seconds(20)), try await changes.next(), try await changes.next()]
                .map { [$0.oldReputations[FileProvider.enterprise]?.trustLevel, $0.newReputations[FileProvider.enterprise]?.trustLevel] }
            #expect(levels == [[50, 30], [30, 1], [1, 99]])
            let certificate = try await certificateChanges.next(timeout: .seconds(20))
            #expect(certificate.isCertificate)
            #expect(certificate.hashes == ["sha1": "b5bb3823c60f4f3fda94decb5246edcfb126f0ad"])
            #expect(certificate.publicKeySha1 == "af55bf11d98375cbee961bd71c08f47bc1aa1937")
            #expect(certificate.newReputations[CertProvider.enterprise]?.trustLevel == 1)
            let first = try await firstInstances.next(timeout: .seconds(20))
            #expect(first.agentGuid == "testGuid" && first.name == "MORPH.EXE")
            #expect(first.dictionary == fabric.expectedDictionary(step: 0, scenario: 2))
        }
    }

    @Test("asking for a reputation-change step's expected dictionary changes nothing; playing the step does")
    func expectedDictionaryDoesNotMutate() async throws {
        try await withTIEFabric(scenarios: [scenariosFolder + "/reputation-lifecycle.yaml"]) { fabric in
            let name = "NOTEPAD2.EXE"  // the file the scenario's first step changes
            let before = fabric.store.file(named: name)
            let expected = try #require(fabric.expectedDictionary(step: 0))
            let again = try #require(fabric.expectedDictionary(step: 0))
            #expect(fabric.store.file(named: name) == before, "asking changed the fake TIE's knowledge")
            #expect(expected["newReputations"] == again["newReputations"])
            #expect(expected["oldReputations"] != expected["newReputations"])
        }
    }

    @Test("every request method returns what the scenario defines, and a set is broadcast with old and new values")
    func requests() async throws {
        try await withTIEFabric(scenarios: [scenariosFolder + "/reputation-lifecycle.yaml", scenariosFolder + "/certificates.yaml"]) { fabric in
            let tie = try await fabric.tieClient()
            let reputations = try await tie.getFileReputation(hashes: Self.notepad)
            #expect(reputations[FileProvider.gti]?.trustLevel == 50)
            #expect(reputations[FileProvider.enterprise]?.attributes[TieAttribute.FileEnterprise.prevalence] == "52")
            #expect(reputations.dictionary["3"]?["attributes"]?["2139285"] == "73183493944770750")
            let references = try await tie.getFileFirstReferences(hashes: Self.notepad, queryLimit: 1)
            #expect(references.map(\.agentGuid) == ["{3a6f574a-3e6f-436d-acd4-bcde336b054d}"])
            let certificate = try await tie.getCertificateReputation(sha1: "6eae26db8c13182a7947982991b4321732cc3de2", publicKeySha1: "3b87a2d6f39770160364b79a152fcc73bae27adf")
            #expect(certificate[CertProvider.gti]?.trustLevel == 99)
            #expect(try await tie.getCertificateFirstReferences(sha1: "6eae26db8c13182a7947982991b4321732cc3de2").count == 1)

            let changes = try await tie.fileReputationChangeInbox()
            try await tie.setFileReputation(trustLevel: .knownMalicious, hashes: Self.notepad, filename: "notepad2.exe", comment: "quarantine")
            let change = try await changes.next()
            #expect(change.oldReputations[FileProvider.enterprise]?.trustLevel == 50)
            #expect(change.newReputations[FileProvider.enterprise]?.trustLevel == 1)
            #expect(change.certificateSha1 == "6eae26db8c13182a7947982991b4321732cc3de2")
            #expect(try await tie.getFileReputation(hashes: [.md5: Self.notepad[.md5]!])[FileProvider.enterprise]?.trustLevel == 1)

            try await tie.setCertificateReputation(trustLevel: .mostLikelyMalicious, sha1: "6eae26db8c13182a7947982991b4321732cc3de2")
            #expect(try await tie.getCertificateReputation(sha1: "6eae26db8c13182a7947982991b4321732cc3de2")[CertProvider.enterprise]?.trustLevel == 15)

            try tie.setExternalFileReputation(trustLevel: .mightBeTrusted, hashes: Self.notepad, fileType: .peexe, filename: "notepad2.exe")
            _ = try await changes.next()
            #expect(try await tie.getFileReputation(hashes: Self.notepad)[FileProvider.external]?.trustLevel == 70)
            #expect(throws: TieError.self) { try tie.setExternalFileReputation(trustLevel: .notSet, hashes: Self.notepad) }
        }
    }

    @Test("unknown hashes get the configured reply: real server records, or a typed error with code and message")
    func unknownHashes() async throws {
        try await withTIEFabric(yaml: "files:\n  A.EXE:\n") { fabric in
            let tie = try await fabric.tieClient()
            let reputations = try await tie.getFileReputation(hashes: [.md5: "00000000000000000000000000000001"])
            #expect(Set(reputations.byProvider.keys) == [1, 3])
        }
        try await withTIEFabric(yaml: "settings:\n  unknownHashes: error\nfiles:\n  A.EXE:\n") { fabric in
            let tie = try await fabric.tieClient()
            do {
                _ = try await tie.getFileReputation(hashes: [.md5: "00000000000000000000000000000001"])
                Issue.record("no error for an unknown file")
            } catch let error as TieError {
                guard case .errorResponse(let code, let message) = error else { Issue.record("wrong error \(error)"); return }
                #expect(code == 0 && message == "Could not find reputation")
                #expect(error.description == "Error: Could not find reputation (0)")
            }
        }
    }

    @Test("the response timeout cannot go below 30 seconds, as in dxltieclient")
    func responseTimeout() async throws {
        try await withTIEFabric(yaml: "files:\n  A.EXE:\n") { fabric in
            let tie = try await fabric.tieClient()
            #expect(tie.responseTimeout == .seconds(30))
            #expect(throws: TieError.self) { try tie.setResponseTimeout(.seconds(29)) }
            try tie.setResponseTimeout(.seconds(45))
            #expect(tie.responseTimeout == .seconds(45))
        }
    }

    @Test("malformed events are skipped: the callback is not called and the next good event arrives")
    func malformedEvents() async throws {
        try await withTIEFabric(yaml: "files:\n  A.EXE:\n") { fabric in
            let tie = try await fabric.tieClient()
            let detections = try await tie.detectionInbox()
            let sender = try await fabric.connectedClient()
            for bad in ["not json", #"{"hashes": [{"type": "md5", "value": "%%%"}]}"#, "[1, 2]", #"{"hashes": 5}"#] {
                try sender.sendEvent(topic: TieTopic.fileDetection, payload: Array(bad.utf8))
            }
            try sender.sendEvent(topic: TieTopic.fileDetection, payload: Array(#"{"agentGuid": "good", "hashes": []}"#.utf8))
            let detection = try await detections.next()
            #expect(detection.agentGuid == "good")
            try await Task.sleep(for: .milliseconds(200))
            #expect(detections.pending.isEmpty)
            #expect(tie.dxlClient.isConnected)
        }
    }

    @Test("a scenario with fabric: gives a bridged fabric: a TieClient on broker 2 gets the detection played on broker 3")
    func multiBrokerFabric() async throws {
        let yaml = "fabric: {brokers: 3}\nfiles:\n  A.EXE:\n    reputations: {GTI: KNOWN_MALICIOUS}\ntimeline:\n  - detection: {file: A.EXE}\n    broker: 3\n"
        try await withTIEFabric(yaml: yaml) { fabric in
            #expect(fabric.brokers.count == 3)
            let tie = try await fabric.tieClient(broker: 2)
            #expect(tie.dxlClient.connectedBroker?.port == fabric.brokers[1].port)
            let detections = try await tie.detectionInbox()
            fabric.startPlaying()
            #expect(try await detections.next(timeout: .seconds(10)).name == "A.EXE")
            #expect(try await tie.getFileReputation(hashes: [.md5: fabric.store.file(named: "A.EXE")?.md5 ?? ""])[FileProvider.gti]?.trustLevel == 1)
        }
    }

    @Test("fabrics started in parallel each get their own broker")
    func parallelFabrics() async throws {
        let ports = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await withTIEFabric(yaml: "files:\n  A.EXE:\n") { fabric in
                        let tie = try await fabric.tieClient()
                        _ = try await tie.getFileReputation(hashes: [.md5: fabric.store.file(named: "A.EXE")!.md5!])
                        return fabric.brokers[0].port
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(ports).count == 3)
    }

    @Test("the fabric is torn down when the test body throws")
    func teardownOnError() async throws {
        struct Expected: Error {}
        let pid = Mutex<Int32?>(nil)
        do {
            try await withTIEFabric(yaml: "files:\n  A.EXE:\n") { fabric in
                pid.withLock { $0 = fabric.brokers[0].processIdentifier }
                throw Expected()
            }
        } catch is Expected {}
        let broker = try #require(pid.withLock { $0 })
        #expect(kill(broker, 0) != 0, "mosquitto \(broker) is still running")
    }

    @Test("the Swift client and the Python dxltieclient receive identical dictionaries for the same events")
    func sameDictionariesAsPython() async throws {
        try await withTIEFabric(scenarios: [scenariosFolder + "/reputation-lifecycle.yaml"],
                                yaml: "files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    repeat: 3\n    agents: 3\n") { fabric in
            let python = try PythonPeer(["callbacks", fabric.clientConfigPath, "detection,fileRepChange", "6", "60"], script: PythonPeer.tieScript)
            defer { python.stop() }
            try await python.waitForLine { $0 == "READY" }
            let tie = try await fabric.tieClient()
            let detections = try await tie.detectionInbox()
            let changes = try await tie.fileReputationChangeInbox()
            _ = try await fabric.play()
            var swift: [JSONValue] = []
            for _ in 0..<3 { swift.append(try await changes.next().dictionary) }
            for _ in 0..<3 { swift.append(try await detections.next().dictionary) }
            try await python.waitForLine(timeout: .seconds(30)) { $0 == "DONE" }
            let pythonDicts = try python.output.filter { $0.hasPrefix("{") }.map { line in
                try JSONValue.parse(try JSONSerialization.data(withJSONObject: try PythonPeer.json(line)["dict"] as Any))
            }
            #expect(pythonDicts.count == 6)
            #expect(Set(pythonDicts) == Set(swift))
        }
    }
}

@Suite("TIEFabric lifecycle", .timeLimit(.minutes(3)))
struct TIEFabricLifecycleTests {
    @Test("a timeline started with startPlaying does not outlive the fabric")
    func playingEndsWithTheFabric() async throws {
        let clock = ContinuousClock()
        var started: Task<[ScenarioPlayer.StepResult], any Error>?
        try await withTIEFabric(yaml: "settings: {subscriberTimeout: 300s}\nfiles:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n") { fabric in
            started = fabric.startPlaying()  // waits for a subscriber that never comes
        }
        let task = try #require(started)
        let ended = clock.now
        #expect(task.isCancelled)
        _ = await task.result
        #expect(clock.now - ended < .seconds(5))
    }
}
