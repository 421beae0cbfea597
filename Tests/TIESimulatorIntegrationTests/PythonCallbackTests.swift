import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// The unmodified Python dxltieclient callbacks receive exactly the dictionaries scenarios define.
@Suite("Scenario events seen by the Python dxltieclient callbacks", .timeLimit(.minutes(3)))
struct PythonCallbackTests {
    static let seedDict: JSONValue = [
        "agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "detectionTime": 1_481_301_796,
        "hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab", "sha1": "435dfd470f727437c7cb4f07cba1f9a1f4272656",
                   "sha256": "414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb"],
        "localReputation": 1, "name": "FOCUS_MALWARE2.EXE", "remediationAction": 5,
    ]

    @Test("DetectionCallback receives the seed's dictionary from basic-detection.yaml, exactly")
    func seedDetection() async throws {
        try await withFabric(paths: ["scenarios/basic-detection.yaml"]) { fabric in
            let peer = try tiePeer(["callbacks", fabric.clientConfigPath, "detection", "1", "30"])
            defer { peer.stop() }
            let played = Task { try await fabric.play() }  // waits until the Python client subscribes
            try await peer.waitForLine { $0 == "READY" }
            let line = try await peer.waitForLine { $0.hasPrefix("{") }
            let seen = try PythonPeer.json(line)
            #expect(seen["kind"] as? String == "detection")
            #expect(seen["topic"] as? String == TieTopic.fileDetection)
            #expect(try jsonValue(seen["dict"] as Any) == Self.seedDict)
            let results = try await played.value
            #expect(results.map(\.sent) == [1])
        }
    }

    @Test("FirstInstanceCallback receives the spec's MORPH.EXE dictionary")
    func firstInstance() async throws {
        let yaml = """
        files:
          MORPH.EXE:
            sha1: 2d6ca45061b7972312e00e5933fdff95bb90b61b
            md5: 31dbe8cc443d2ca7fd236ac00a52fb17
            sha256: aa3c461d4c21a392e372d0d6ca4ceb1e4d88098d587659454eaf4d93c661880f
        timeline:
          - firstInstance: {file: MORPH.EXE, agentGuid: testGuid}
        """
        try await withFabric(yaml) { fabric in
            let peer = try tiePeer(["callbacks", fabric.clientConfigPath, "firstInstance", "1", "30"])
            defer { peer.stop() }
            let played = Task { try await fabric.play() }
            let line = try await peer.waitForLine { $0.hasPrefix("{") }
            let seen = try PythonPeer.json(line)
            #expect(try jsonValue(seen["dict"] as Any) == [
                "agentGuid": "testGuid", "name": "MORPH.EXE",
                "hashes": ["sha1": "2d6ca45061b7972312e00e5933fdff95bb90b61b", "md5": "31dbe8cc443d2ca7fd236ac00a52fb17",
                           "sha256": "aa3c461d4c21a392e372d0d6ca4ceb1e4d88098d587659454eaf4d93c661880f"],
            ])
            #expect(seen["payload_contains_name"] as? Bool == true)
            _ = try await played.value
        }
    }

    @Test("ReputationChangeCallback receives old and new reputations and the certificate relationship")
    func reputationChange() async throws {
        let yaml = """
        certificates:
          CERT:
            sha1: ac1fd0922a4a2a6e5779acdd628747c28394b0b9
            publicKeySha1: 435dfd470f727437c7cb4f07cba1f9a1f4272656
        files:
          A.EXE:
            md5: 6d0bcb1ba8f55a6c1107c2d9da03dad7
            sha1: 3b16eb8d07741fafb799e056e58b81a089d372a3
            sha256: c977ca1f51121fee58cda88827a6173ad4f1d72d8026284e4c4f44302a967e40
            certificate: CERT
            createDate: 1409783001
            reputations:
              ENTERPRISE: {trustLevel: NOT_SET, attributes: {"2098277": "256"}}
              GTI: {trustLevel: KNOWN_TRUSTED, attributes: {ORIGINAL_RESPONSE: "2139160704"}}
        timeline:
          - fileReputationChange: {file: A.EXE, trustLevel: MOST_LIKELY_TRUSTED, updateTime: 1409851328}
        """
        try await withFabric(yaml) { fabric in
            let peer = try tiePeer(["callbacks", fabric.clientConfigPath, "fileRepChange", "1", "30"])
            defer { peer.stop() }
            let played = Task { try await fabric.play() }
            let line = try await peer.waitForLine { $0.hasPrefix("{") }
            let dict = try jsonValue(try PythonPeer.json(line)["dict"] as Any)
            let gti: JSONValue = ["trustLevel": 99, "providerId": 1, "createDate": 1_409_783_001, "attributes": ["2120340": "2139160704"]]
            #expect(dict == [
                "hashes": ["md5": "6d0bcb1ba8f55a6c1107c2d9da03dad7", "sha1": "3b16eb8d07741fafb799e056e58b81a089d372a3",
                           "sha256": "c977ca1f51121fee58cda88827a6173ad4f1d72d8026284e4c4f44302a967e40"],
                "oldReputations": ["1": gti, "3": ["trustLevel": 0, "providerId": 3, "createDate": 1_409_783_001, "attributes": ["2098277": "256"]]],
                "newReputations": ["1": gti, "3": ["trustLevel": 85, "providerId": 3, "createDate": 1_409_783_001, "attributes": ["2098277": "256"]]],
                "relationships": ["certificate": ["hashes": ["sha1": "ac1fd0922a4a2a6e5779acdd628747c28394b0b9"],
                                                  "publicKeySha1": "435dfd470f727437c7cb4f07cba1f9a1f4272656"]],
                "updateTime": 1_409_851_328,
            ])
            _ = try await played.value
        }
    }

    @Test("a certificate reputation change reaches the certificate callback with hex hashes")
    func certificateChange() async throws {
        try await withFabric(paths: ["scenarios/certificates.yaml"]) { fabric in
            let peer = try tiePeer(["callbacks", fabric.clientConfigPath, "certRepChange", "1", "30"])
            defer { peer.stop() }
            let played = Task { try await fabric.play() }
            let line = try await peer.waitForLine { $0.hasPrefix("{") }
            let seen = try PythonPeer.json(line)
            #expect(seen["topic"] as? String == TieTopic.certificateReputationChange)
            let dict = try jsonValue(seen["dict"] as Any)
            #expect(dict["hashes"] == ["sha1": "b5bb3823c60f4f3fda94decb5246edcfb126f0ad"])
            #expect(dict["publicKeySha1"] == "af55bf11d98375cbee961bd71c08f47bc1aa1937")
            #expect(dict["oldReputations"]?["4"]?["trustLevel"] == 0)
            #expect(dict["newReputations"]?["4"]?["trustLevel"] == 1)
            #expect(dict["newReputations"]?["2"]?["trustLevel"] == 30)
            _ = try await played.value
        }
    }

    @Test("a rate step delivers every event to a subscriber that subscribed after tiesim started")
    func lateSubscriberGetsEveryEvent() async throws {
        let yaml = """
        files:
          A.EXE:
        timeline:
          - detection: {file: A.EXE}
            repeat: 300
            rate: 1000/s
            agents: 30
        """
        try await withFabric(yaml) { fabric in
            let played = Task { try await fabric.play() }
            try await Task.sleep(for: .milliseconds(1500))  // the subscriber comes late
            let peer = try tiePeer(["callbacks", fabric.clientConfigPath, "detection", "300", "60"])
            defer { peer.stop() }
            try await peer.waitForLine(timeout: .seconds(60)) { $0 == "DONE" || $0 == "TIMEOUT" }
            let events = peer.output.filter { $0.hasPrefix("{") }
            #expect(events.count == 300)
            let agents = Set(try events.map { try PythonPeer.json($0)["dict"].flatMap { ($0 as? [String: Any])?["agentGuid"] as? String } ?? "" })
            #expect(agents.count == 30)
            #expect(peer.output.last == "DONE")
            _ = try await played.value
        }
    }

    @Test("tiesim listen prints the seed detection as the dxltieclient sample does")
    func listenPrintsSeed() async throws {
        try await withFabric(paths: ["scenarios/basic-detection.yaml"]) { fabric in
            let output = NSTemporaryDirectory() + "listen-\(UUID()).out"
            let listener = try ChildProcess(executable: tiesimExecutable, arguments: ["listen", "--config", fabric.clientConfigPath, "--count", "1"], outputPath: output)
            defer { listener.terminate(); try? FileManager.default.removeItem(atPath: output) }
            _ = try await fabric.play()
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while listener.isRunning && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let text = try String(contentsOfFile: output, encoding: .utf8)
            let expected = """
            Detection on topic: /mcafee/event/tie/file/detection
            {
                "agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}",
                "detectionTime": 1481301796,
                "hashes": {
                    "md5": "eb5e2b9dc51817a086d7b97eb52410ab",
                    "sha1": "435dfd470f727437c7cb4f07cba1f9a1f4272656",
                    "sha256": "414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb"
                },
                "localReputation": 1,
                "name": "FOCUS_MALWARE2.EXE",
                "remediationAction": 5
            }
            """
            #expect(text.contains(expected + "\n"), "listen printed:\n\(text)")
            #expect(listener.terminationStatus == 0)
        }
    }
}
