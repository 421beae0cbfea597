import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// Runtime control of a running fabric, over DXL (from the Python client) and over HTTP (with curl).
@Suite("Runtime control", .timeLimit(.minutes(3)))
struct ControlTests {
    static let fragmentFiles = "files:\n  LOADED.EXE:\n    md5: 0123456789abcdef0123456789abcdef\n    reputations:\n      GTI: KNOWN_MALICIOUS\n"
    static let fragmentPlay = "settings: {waitForSubscribers: false}\ntimeline:\n  - name: control detection\n    detection: {file: LOADED.EXE, agentGuid: controlled}\n"
    static let fragmentExpect = "expect:\n  - name: one lookup\n    request: get_file_reputation\n    where: {hashes: {file: LOADED.EXE}}\n    count: 1\n"

    @Test("a load changes the unknown-hash behaviour only when it says unknownHashes: itself; faults-only and settings-only bodies load")
    func loadSettingsAndFaults() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            #expect(fabric.tie.unknownHashBehaviour == .realServer)
            // The word in a comment and in a file name is not the setting.
            _ = try fabric.control.load("# unknownHashes: error would change it\nfiles:\n  unknownHashes.EXE:\n")
            #expect(fabric.tie.unknownHashBehaviour == .realServer)
            _ = try fabric.control.load("settings: {unknownHashes: error}\n")
            #expect(fabric.tie.unknownHashBehaviour == .error)
            _ = try fabric.control.load("faults:\n  - request: get_file_reputation\n    drop: true\n")
            // The fault is in force: the next lookup is dropped (and journaled as a fault).
            let client = try await fabric.playerClientForTests()
            client.asyncRequest(.request(topic: TieTopic.getFileReputation, payload: "{}"), timeout: .seconds(1)) { _ in }
            #expect(await eventually(timeout: .seconds(10)) { fabric.journal.all.contains { $0.kind == .fault && $0.topic == TieTopic.getFileReputation } })
            await client.disconnect()
        }
    }

    @Test("the Python dxlclient loads knowledge, plays a fragment, reads the journal, verifies and resets over /tiesim/control/")
    func overDXL() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let listener = try tiePeer(["callbacks", fabric.clientConfigPath, "detection", "1", "30"])
            defer { listener.stop() }
            try await listener.waitForLine { $0 == "READY" }
            let results = try await pythonTieCalls(fabric, [
                ("raw_request", ["topic": "/tiesim/control/load", "payload": Self.fragmentFiles]),
                ("get_file_reputation", ["hashes": ["md5": "0123456789abcdef0123456789abcdef"]]),
                ("raw_request", ["topic": "/tiesim/control/play", "payload": Self.fragmentPlay]),
                ("raw_request", ["topic": "/tiesim/control/verify", "payload": Self.fragmentExpect]),
                ("raw_request", ["topic": "/tiesim/control/journal", "payload": ""]),
                ("raw_request", ["topic": "/tiesim/control/play", "payload": "timeline:\n  - detection: {file: NOPE.EXE}\n"]),
                ("raw_request", ["topic": "/tiesim/control/reset", "payload": ""]),
                ("get_file_reputation", ["hashes": ["md5": "0123456789abcdef0123456789abcdef"]]),
            ])  // dxlclient.config: the certificate that may control the fabric
            func reply(_ index: Int) throws -> JSONValue {
                let result = try #require(results[index]["result"] as? [String: Any], "\(results[index])")
                #expect(result["message_type"] as? Int == 1, "\(result)")
                return try JSONValue.parse(result["payload"] as? String ?? "")
            }
            #expect(try reply(0)["loaded"]?["files"] == 1)
            #expect(try jsonValue(results[1]["result"] as Any)["1"]?["trustLevel"] == 1)
            #expect(try reply(2)["steps"]?[0]?["sent"] == 1)
            let verdict = try reply(3)
            #expect(verdict["passed"] == true, "\(verdict)")
            let journal = try reply(4)["entries"]?.arrayValue ?? []
            #expect(journal.contains { $0["kind"] == "step" && $0["note"] == "control detection" })
            #expect(journal.contains { $0["topic"] == .string(TieTopic.getFileReputation) && $0["payload"]?["hashes"]?["md5"] == "0123456789abcdef0123456789abcdef" })
            let failed = try #require(results[5]["result"] as? [String: Any])
            #expect(failed["message_type"] as? Int == 3)
            #expect((failed["error_message"] as? String)?.contains("control:2:23: unknown file 'NOPE.EXE'") == true, "\(failed)")
            #expect(try reply(6)["reset"] == true)
            #expect(try jsonValue(results[7]["result"] as Any)["1"]?["trustLevel"] == 50, "after reset the file is unknown again")
            let detection = try PythonPeer.json(try await listener.waitForLine { $0.hasPrefix("{") })
            #expect((detection["dict"] as? [String: Any])?["agentGuid"] as? String == "controlled")
        }
    }

    @Test("curl drives the HTTP control API on loopback")
    func overHTTP() async throws {
        let directory = NSTemporaryDirectory() + "tiesim-http-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try testCertificates.copy(to: directory + "/certs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = SimulatedFabric.Options(stateDirectory: directory)
        options.controlHTTPPort = 0
        let fabric = try await SimulatedFabric.start(options)
        do {
            let port = try #require(fabric.http?.port)
            func curl(_ arguments: [String]) async throws -> (status: Int, body: JSONValue) {
                let output = directory + "/curl-\(UUID().uuidString.prefix(6)).out"
                let process = try ChildProcess(executable: "/usr/bin/curl", arguments: ["-s", "-o", output + ".body", "-w", "%{http_code}"] + arguments, outputPath: output)
                while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }  // no thread blocked: the server shares the pool
                let status = Int((try? String(contentsOfFile: output, encoding: .utf8)) ?? "") ?? 0
                let body = (try? JSONValue.parse(Array(FileManager.default.contents(atPath: output + ".body") ?? Data()))) ?? .null
                return (status, body)
            }
            let base = "http://127.0.0.1:\(port)"
            #expect(try await curl([base + "/health"]).body["ok"] == true)
            let loaded = try await curl(["-X", "POST", "--data-binary", Self.fragmentFiles, base + "/load"])
            #expect(loaded.status == 200 && loaded.body["store"]?["files"] == 1)
            let tie = TieClient(try await fabric.playerClientForTests())
            #expect(try await tie.getFileReputation(hashes: [.md5: "0123456789abcdef0123456789abcdef"])[FileProvider.gti]?.trustLevel == 1)
            let played = try await curl(["-X", "POST", "--data-binary", Self.fragmentPlay, base + "/play"])
            #expect(played.status == 200 && played.body["steps"]?[0]?["name"] == "control detection")
            let verified = try await curl(["-X", "POST", "--data-binary", Self.fragmentExpect, base + "/verify"])
            #expect(verified.body["passed"] == true)
            let journal = try await curl([base + "/journal?sinceMs=0"])
            #expect((journal.body["entries"]?.arrayValue?.count ?? 0) >= 2)
            let bad = try await curl(["-X", "POST", "--data-binary", "files: [", base + "/load"])
            #expect(bad.status == 422 && bad.body["error"]?.stringValue?.contains("not valid YAML") == true)
            // Numbers no duration can hold: an error reply, over HTTP and over DXL, and the fabric stays up.
            let huge = "files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    after: 1e20s\n"
            let refused = try await curl(["-X", "POST", "--data-binary", huge, base + "/load"])
            #expect(refused.status == 422 && refused.body["error"]?.stringValue?.contains("longer than 30 days") == true)
            let control = try DXLClient(config: fabric.clientConfig(client: "client"))  // the controlling certificate
            try await control.connect()
            let overDXL = try await control.request(.request(topic: ControlService.prefix + "load", payload: huge), timeout: .seconds(10))
            #expect(overDXL.type == .errorResponse && overDXL.errorMessage?.contains("longer than 30 days") == true)
            await control.disconnect()
            #expect(try await curl([base + "/health"]).body["ok"] == true)
            #expect(try await curl(["-X", "POST", base + "/reset"]).body == ["reset": true])
            #expect(fabric.store.counts.files == 0)
        } catch {
            await fabric.stop()
            throw error
        }
        await fabric.stop()
    }
}

extension SimulatedFabric {
    /// A connected client of this fabric for a test.
    func playerClientForTests() async throws -> DXLClient {
        let client = try DXLClient(config: clientConfig(client: "swift"))
        try await client.connect()
        return client
    }
}
