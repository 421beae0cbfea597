import DXL
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// Every dxltieclient 0.3.0 TieClient method against the fake TIE, through real mosquitto.
@Suite("The Python TieClient against the fake TIE service", .timeLimit(.minutes(3)))
struct PythonTieClientTests {
    static let notepad: [String: String] = [
        "md5": "f2c7bb8acc97f92e987a2d4087d021b1", "sha1": "7eb0139d2175739b3ccb0d1110067820be6abd29",
        "sha256": "142e1d688ef0568370c37187fd9f2351d7ddeda574f8bfa9b0fa4ef42db85aa2",
    ]
    static let unknownFile: [String: String] = ["md5": "00000000000000000000000000000001"]

    @Test("get_file_reputation returns the scenario's reputations, looked up by any subset of the hashes")
    func getFileReputation() async throws {
        try await withFabric(paths: ["scenarios/reputation-lifecycle.yaml"]) { fabric in
            let results = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": Self.notepad]),
                ("get_file_reputation", ["hashes": ["sha256": Self.notepad["sha256"]!]]),
                ("get_file_reputation", ["hashes": ["md5": Self.notepad["md5"]!.uppercased()]]),
            ])
            let expected: JSONValue = [
                "1": ["providerId": 1, "trustLevel": 50, "createDate": 1_480_455_704, "attributes": ["2120340": "2139160704"]],
                "3": ["providerId": 3, "trustLevel": 50, "createDate": 1_480_455_704,
                      "attributes": ["2101652": "52", "2102165": "1476902802", "2139285": "73183493944770750"]],
            ]
            for result in results {
                #expect(try jsonValue(result["result"] as Any) == expected, "\(result)")
            }
        }
    }

    @Test("the Swift TieClient writes each request body byte for byte as dxltieclient does: its members, its order")
    func requestBodiesMatchPython() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let md5 = "0123456789abcdef0123456789abcdef", sha1 = "0123456789abcdef0123456789abcdef01234567"
            let sha256 = String(repeating: "ab", count: 32)
            let hashes = ["md5": md5, "sha1": sha1, "sha256": sha256]
            _ = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": hashes]),
                ("set_file_reputation", ["trust_level": 99, "hashes": hashes, "filename": "A.EXE", "comment": "from a test"]),
                ("get_file_first_references", ["hashes": hashes, "query_limit": 7]),
                ("get_certificate_reputation", ["sha1": sha1, "public_key_sha1": sha1]),
                ("set_certificate_reputation", ["trust_level": 15, "sha1": sha1, "public_key_sha1": sha1, "comment": "c"]),
                ("get_certificate_first_references", ["sha1": sha1, "public_key_sha1": sha1, "query_limit": 3]),
                ("get_certificate_reputation", ["sha1": sha1, "public_key_sha1": ""]),
            ])
            let client = try DXLClient(config: fabric.clientConfig())
            try await client.connect()
            let tie = TieClient(client)
            let typed: [HashType: String] = [.md5: md5, .sha1: sha1, .sha256: sha256]
            _ = try await tie.getFileReputation(hashes: typed)
            try await tie.setFileReputation(trustLevel: .knownTrusted, hashes: typed, filename: "A.EXE", comment: "from a test")
            _ = try await tie.getFileFirstReferences(hashes: typed, queryLimit: 7)
            _ = try await tie.getCertificateReputation(sha1: sha1, publicKeySha1: sha1)
            try await tie.setCertificateReputation(trustLevel: .mostLikelyMalicious, sha1: sha1, publicKeySha1: sha1, comment: "c")
            _ = try await tie.getCertificateFirstReferences(sha1: sha1, publicKeySha1: sha1, queryLimit: 3)
            _ = try await tie.getCertificateReputation(sha1: sha1, publicKeySha1: "")
            await client.disconnect()
            let requests = fabric.journal.all.filter { $0.kind == .request }.map { ($0.topic, String(decoding: $0.rawPayload, as: UTF8.self)) }
            try #require(requests.count == 14, "\(requests)")
            for (python, swift) in zip(requests.prefix(7), requests.suffix(7)) {
                #expect(swift.0 == python.0)
                #expect(swift.1 == python.1, "\(python.0)")
            }
            // Not merely sorted: dxltieclient's order is the order its code builds each dict in.
            let pythonSet = requests[1].1
            #expect(pythonSet.hasPrefix(#"{"trustLevel": 99, "providerId": 3, "filename": "A.EXE", "comment": "from a test", "hashes": [{"type": "md5""#), "\(pythonSet)")
        }
    }

    @Test("hashes of two different files in one request get an error reply")
    func mixedHashes() async throws {
        let yaml = "files:\n  A.EXE:\n  B.EXE:\n"
        try await withFabric(yaml) { fabric in
            let a = try #require(fabric.store.file(named: "A.EXE"))
            let b = try #require(fabric.store.file(named: "B.EXE"))
            let results = try await pythonTieCalls(fabric, [("get_file_reputation", ["hashes": ["md5": a.md5!, "sha1": b.sha1!]])])
            #expect((results[0]["error"] as? String)?.contains("the hashes belong to different files (A.EXE, B.EXE)") == true, "\(results)")
        }
    }

    @Test("a set on hashes the fake TIE had answered as unknown keeps the GTI record and the enterprise attributes")
    func setOnUnknownKeepsOtherProviders() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let md5 = "0123456789abcdef0123456789abcdef"
            let sha1 = "0123456789abcdef0123456789abcdef01234567"
            let results = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": ["md5": md5]]),
                ("set_file_reputation", ["trust_level": 99, "hashes": ["md5": md5]]),
                ("get_file_reputation", ["hashes": ["md5": md5]]),
                ("get_certificate_reputation", ["sha1": sha1]),
                ("set_certificate_reputation", ["trust_level": 15, "sha1": sha1]),
                ("get_certificate_reputation", ["sha1": sha1]),
            ])
            for (before, after, gtiKey, enterpriseKey) in [(0, 2, "1", "3"), (3, 5, "2", "4")] {
                let old = try #require(results[before]["result"] as? [String: Any])
                let new = try #require(results[after]["result"] as? [String: Any], "\(results[after])")
                #expect(Set(new.keys) == Set(old.keys), "every provider's record is still there")
                // The GTI record is kept (its times are "now" when it is made, so they may differ by a second).
                let gti = try #require(new[gtiKey] as? [String: Any])
                let oldGti = try #require(old[gtiKey] as? [String: Any])
                #expect(gti["trustLevel"] as? Int == oldGti["trustLevel"] as? Int)
                #expect(Set((gti["attributes"] as? [String: Any] ?? [:]).keys) == Set((oldGti["attributes"] as? [String: Any] ?? [:]).keys))
                let enterprise = try #require(new[enterpriseKey] as? [String: Any])
                #expect(enterprise["trustLevel"] as? Int == (before == 0 ? 99 : 15))
                let oldAttributes = (old[enterpriseKey] as? [String: Any])?["attributes"] as? [String: Any] ?? [:]
                #expect(Set((enterprise["attributes"] as? [String: Any] ?? [:]).keys) == Set(oldAttributes.keys))
                #expect(!oldAttributes.isEmpty)
            }
        }
    }

    @Test("set_file_reputation changes the store and broadcasts old and new reputations")
    func setFileReputation() async throws {
        try await withFabric(paths: ["scenarios/reputation-lifecycle.yaml"]) { fabric in
            let listener = try tiePeer(["callbacks", fabric.clientConfigPath, "fileRepChange", "1", "30"])
            defer { listener.stop() }
            try await listener.waitForLine { $0 == "READY" }
            let results = try await pythonTieCalls(fabric, [
                ("set_file_reputation", ["trust_level": 1, "hashes": Self.notepad, "filename": "notepad2.exe", "comment": "quarantine it"]),
                ("get_file_reputation", ["hashes": Self.notepad]),
            ])
            #expect(results[0]["error"] == nil, "\(results[0])")
            let after = try jsonValue(results[1]["result"] as Any)
            #expect(after["3"]?["trustLevel"] == 1)
            #expect(after["1"]?["trustLevel"] == 50)
            let change = try jsonValue(try PythonPeer.json(try await listener.waitForLine { $0.hasPrefix("{") })["dict"] as Any)
            #expect(change["oldReputations"]?["3"]?["trustLevel"] == 50)
            #expect(change["newReputations"]?["3"]?["trustLevel"] == 1)
            #expect(change["hashes"] == .object(JSONObject(Self.notepad.mapValues { .string($0) })))
            #expect(change["relationships"]?["certificate"]?["hashes"] == ["sha1": "6eae26db8c13182a7947982991b4321732cc3de2"])
        }
    }

    @Test("certificate reputations: get, set, and get again")
    func certificates() async throws {
        try await withFabric(paths: ["scenarios/certificates.yaml"]) { fabric in
            let sha1 = "6eae26db8c13182a7947982991b4321732cc3de2", key = "3b87a2d6f39770160364b79a152fcc73bae27adf"
            let results = try await pythonTieCalls(fabric, [
                ("get_certificate_reputation", ["sha1": sha1, "public_key_sha1": key]),
                ("set_certificate_reputation", ["trust_level": 15, "sha1": sha1, "public_key_sha1": key, "comment": "revoked"]),
                ("get_certificate_reputation", ["sha1": sha1]),
            ])
            #expect(try jsonValue(results[0]["result"] as Any) == [
                "2": ["providerId": 2, "trustLevel": 99, "createDate": 1_476_318_514, "attributes": ["2108821": "92", "2109077": "1454912619", "2117524": "0"]],
                "4": ["providerId": 4, "trustLevel": 0, "createDate": 1_476_318_514, "attributes": ["2109333": "4", "2109589": "1476318514", "2139285": "73183493944770750"]],
            ])
            #expect(results[1]["error"] == nil)
            #expect(try jsonValue(results[2]["result"] as Any)["4"]?["trustLevel"] == 15)
        }
    }

    @Test("first references, with the default query limit and with a smaller one")
    func firstReferences() async throws {
        try await withFabric(paths: ["scenarios/reputation-lifecycle.yaml", "scenarios/certificates.yaml"]) { fabric in
            let results = try await pythonTieCalls(fabric, [
                ("get_file_first_references", ["hashes": Self.notepad]),
                ("get_file_first_references", ["hashes": Self.notepad, "query_limit": 1]),
                ("get_certificate_first_references", ["sha1": "6eae26db8c13182a7947982991b4321732cc3de2"]),
                ("get_file_first_references", ["hashes": Self.unknownFile]),
            ])
            #expect(try jsonValue(results[0]["result"] as Any) == [
                ["agentGuid": "{3a6f574a-3e6f-436d-acd4-bcde336b054d}", "date": 1_475_873_692],
                ["agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "date": 1_476_902_802],
            ])
            #expect(try jsonValue(results[1]["result"] as Any) == [["agentGuid": "{3a6f574a-3e6f-436d-acd4-bcde336b054d}", "date": 1_475_873_692]])
            #expect(try jsonValue(results[2]["result"] as Any) == [["agentGuid": "{3a6f574a-3e6f-436d-acd4-bcde336b054d}", "date": 1_476_318_514]])
            #expect(try jsonValue(results[3]["result"] as Any) == [])
        }
    }

    @Test("set_external_file_reputation sets the EXTERNAL provider seen by the next get")
    func externalReputation() async throws {
        try await withFabric(paths: ["scenarios/reputation-lifecycle.yaml"]) { fabric in
            let results = try await pythonTieCalls(fabric, [
                ("set_external_file_reputation", ["trust_level": 70, "hashes": Self.notepad, "file_type": 18, "filename": "notepad2.exe", "comment": "from the sandbox"]),
                ("sleep", ["seconds": 0.3]),
                ("get_file_reputation", ["hashes": Self.notepad]),
                ("set_external_file_reputation", ["trust_level": 0, "hashes": Self.notepad]),
            ])
            #expect(results[0]["error"] == nil)
            let reputations = try jsonValue(results[2]["result"] as Any)
            #expect(reputations["15"]?["trustLevel"] == 70)
            #expect(reputations["15"]?["providerId"] == 15)
            #expect(results[3]["error"] as? String == "TrustLevel was not specified")
        }
    }

    @Test("an unknown file gets the real server's answer: GTI UNKNOWN and an enterprise record, nothing else")
    func unknownRealServer() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let results = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": Self.unknownFile]),
                ("get_certificate_reputation", ["sha1": "0000000000000000000000000000000000000001"]),
            ])
            let file = try jsonValue(results[0]["result"] as Any)
            #expect(file.objectValue.map { Set($0.keys) } == ["1", "3"])
            #expect(file["1"]?["trustLevel"] == 50)
            #expect(file["3"]?["trustLevel"] == 0)
            #expect(file["3"]?["attributes"]?["2139285"] == "73183493944770750")
            let certificate = try jsonValue(results[1]["result"] as Any)
            #expect(certificate.objectValue.map { Set($0.keys) } == ["2", "4"])
        }
    }

    @Test("an unknown file gets a DXL error reply when the scenario asks for errors")
    func unknownError() async throws {
        try await withFabric("settings:\n  unknownHashes: error\nfiles:\n  A.EXE:\n") { fabric in
            let results = try await pythonTieCalls(fabric, [("get_file_reputation", ["hashes": Self.unknownFile])])
            #expect(results[0]["error"] as? String == "Error: Could not find reputation (0)")
        }
    }

    @Test("each kind of bad request gets an error reply saying what was wrong, and the store is unchanged")
    func badRequests() async throws {
        try await withFabric(paths: ["scenarios/reputation-lifecycle.yaml"]) { fabric in
            let before = fabric.store.file(named: "NOTEPAD2.EXE")
            let topic = TieTopic.setFileReputation
            let cases: [(String, String, String)] = [
                (topic, "this is not json", "the request is not JSON"),
                (topic, #"{"trustLevel": 99, "providerId": 3}"#, "missing 'hashes'"),
                (topic, #"{"trustLevel": 99, "hashes": [{"type": "md5", "value": "%%%not base64"}]}"#, "is not base64"),
                (topic, #"{"trustLevel": "high", "hashes": [{"type": "md5", "value": "8se7isyXn5KYfSQKR9AhsQ=="}]}"#, "'trustLevel' must be an integer, not a string"),
                (topic, #"{"trustLevel": 42, "hashes": [{"type": "md5", "value": "8se7isyXn5KYfSQKR9AhsQ=="}]}"#, "unknown trust level 42"),
                (topic, #"{"trustLevel": 99, "hashes": "md5"}"#, "'hashes' must be a list of {type, value}, not a string"),
                (topic, #"{"trustLevel": 99, "hashes": [{"type": "md5", "value": "AAAA"}]}"#, "the md5 value is 3 bytes; a md5 is 16"),
                (TieTopic.getFileReputation, #"[1, 2]"#, "the request must be a JSON object, not a list"),
                (TieTopic.getFileFirstReferences, #"{"queryLimit": "ten", "hashes": [{"type": "md5", "value": "8se7isyXn5KYfSQKR9AhsQ=="}]}"#, "'queryLimit' must be a non-negative integer"),
            ]
            let results = try await pythonTieCalls(fabric, cases.map { ("raw_request", ["topic": $0.0, "payload": $0.1]) })
            for (result, expected) in zip(results, cases) {
                let reply = result["result"] as? [String: Any]
                #expect(reply?["message_type"] as? Int == 3, "\(expected.1): \(result)")
                #expect((reply?["error_message"] as? String)?.contains(expected.2) == true, "\(expected.1): \(result)")
            }
            #expect(fabric.store.file(named: "NOTEPAD2.EXE") == before)
        }
    }

    @Test("a Python service registers, serves and unregisters in well under a second")
    func pythonServiceLifecycle() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let service = try tiePeer(["serve", fabric.clientConfigPath, "/acme/service/echo"])
            defer { service.stop() }
            try await service.waitForLine { $0 == "READY" }
            let registeredIn = try PythonPeer.json(service.output[0])["registered_in"] as? Double
            #expect((registeredIn ?? 99) < 1)
            #expect(try await fabric.registeredServices().map(\.requestChannels) == [["/acme/service/echo"]])
            let results = try await pythonTieCalls(fabric, [("raw_request", ["topic": "/acme/service/echo", "payload": "hi"])], config: fabric.options.stateDirectory + "/dxlclient-client2.config")
            #expect((results[0]["result"] as? [String: Any])?["payload"] as? String == "echo:hi")
            service.closeInput()
            try await service.waitForExit(timeout: .seconds(20))
            let timings = try service.output.filter { $0.hasPrefix("{") }.map(PythonPeer.json)
            #expect(((timings.first { $0["unregistered_in"] != nil })?["unregistered_in"] as? Double ?? 99) < 1)
            #expect(((timings.first { $0["destroyed_in"] != nil })?["destroyed_in"] as? Double ?? 99) < 2)
            #expect(try await fabric.registeredServices().isEmpty)
        }
    }

    @Test("a request to a topic nobody serves gets the broker's error at once, in its int32 form")
    func noService() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let results = try await pythonTieCalls(fabric, [("raw_request", ["topic": "/nobody/serves/this", "payload": "x", "timeout": 30])])
            let reply = try #require(results[0]["result"] as? [String: Any])
            #expect(reply["message_type"] as? Int == 3)
            #expect(reply["error_code"] as? Int == -2_147_483_647)
            #expect(reply["error_message"] as? String == "unable to locate service for request")
            #expect((results[0]["elapsed"] as? Double ?? 99) < 1)
        }
    }

    @Test("two Python clients with a service each on different topics both work")
    func twoServices() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let first = try tiePeer(["serve", fabric.clientConfigPath, "/acme/one"])
            defer { first.stop() }
            let second = try tiePeer(["serve", fabric.options.stateDirectory + "/dxlclient-client2.config", "/acme/two"])
            defer { second.stop() }
            try await first.waitForLine { $0 == "READY" }
            try await second.waitForLine { $0 == "READY" }
            let results = try await pythonTieCalls(fabric, [
                ("raw_request", ["topic": "/acme/one", "payload": "1"]),
                ("raw_request", ["topic": "/acme/two", "payload": "2"]),
            ], config: fabric.options.stateDirectory + "/dxlclient-swift.config")
            #expect((results[0]["result"] as? [String: Any])?["payload"] as? String == "echo:1")
            #expect((results[1]["result"] as? [String: Any])?["payload"] as? String == "echo:2")
            #expect(Set(try await fabric.registeredServices().flatMap(\.requestChannels)) == ["/acme/one", "/acme/two"])
        }
    }

    @Test("the registry answers query with the live registrations; reset forgets changes, not live services")
    func queryAndReset() async throws {
        try await withFabric(paths: ["scenarios/reputation-lifecycle.yaml"]) { fabric in
            let client = try DXLClient(config: fabric.clientConfig(client: "swift"))
            try await client.connect()
            let info = ServiceRegistrationInfo(serviceType: "/acme", requestHandlers: ["/acme/x": { _ in }])
            try await client.registerService(info, timeout: .seconds(5))
            let reply = try await client.request(.request(topic: ServiceRegistryTopic.query, payload: #"{"serviceType": "/acme"}"#), timeout: .seconds(5))
            let services = try JSONValue.parse(reply.payload)["services"]
            #expect(services?[info.serviceGuid]?["requestChannels"] == ["/acme/x"])
            #expect(services?[info.serviceGuid]?["brokerGuid"] == .string(fabric.brokerGuid))
            _ = try fabric.store.setFileReputation(hashes: [("md5", Self.notepad["md5"]!)], providerId: 3, trustLevel: 1, filename: nil, now: 0)
            fabric.reset()
            if case .found(let record) = fabric.store.file(hashes: [("md5", Self.notepad["md5"]!)]) {
                #expect(record.reputations[3]?.trustLevel == 50)
            } else {
                Issue.record("NOTEPAD2.EXE is gone after reset")
            }
            #expect(try await fabric.registeredServices().map(\.serviceGuid) == [info.serviceGuid])
            await client.disconnect()
        }
    }
}
