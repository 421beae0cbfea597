import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

@Suite("Who may connect, who may set, and bad input on the bus", .timeLimit(.minutes(3)))
struct SecurityAndBadInputTests {
    static func client(_ fabric: SimulatedFabric, certificate: String, key: String) throws -> DXLClient {
        var config = fabric.clientConfig()
        config.certFile = certificate
        config.privateKey = key
        config.connectRetries = 1
        config.connectTimeout = .seconds(3)
        return try DXLClient(config: config)
    }

    @Test("an expired certificate and no certificate at all are refused; the fabric's own certificates connect")
    func refusedClients() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let folder = fabric.options.stateDirectory + "/extra"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let ca = try fabric.certificates.authority()
            try ca.issue(commonName: "expired", role: .client, notBefore: Date().addingTimeInterval(-3 * 86_400), validity: 86_400)
                .write(certificate: folder + "/expired.crt", privateKey: folder + "/expired.key")
            let expired = try Self.client(fabric, certificate: folder + "/expired.crt", key: folder + "/expired.key")
            await #expect(throws: DXLError.self) { try await expired.connect() }
            let anonymous = try Self.client(fabric, certificate: "", key: "")
            await #expect(throws: DXLError.self) { try await anonymous.connect() }
            let good = try Self.client(fabric, certificate: fabric.certificates.clientCertificate("client"), key: fabric.certificates.clientKey("client"))
            try await good.connect()
            #expect(good.isConnected)
            await good.disconnect()
            #expect(fabric.broker.configuration(port: fabric.broker.port).contains("listener \(fabric.broker.port) 127.0.0.1"))
        }
    }

    @Test("with topic authorisation an unauthorised client's set or external report is refused and the store is unchanged; an authorised one's is served")
    func authorisation() async throws {
        try await withFabric("files:\n  A.EXE:\n    md5: 0123456789abcdef0123456789abcdef\n", configure: { $0.authorizedSetters = ["client"] }) { fabric in
            let set = #"{"trustLevel": 1, "providerId": 3, "filename": "", "comment": "", "hashes": [{"type": "md5", "value": "ASNFZ4mrze8BI0VniavN7w=="}]}"#
            let denied = try await pythonTieCalls(fabric, [
                ("raw_request", ["topic": TieTopic.setFileReputation, "payload": set, "timeout": 2]),
                ("get_file_reputation", ["hashes": ["md5": "0123456789abcdef0123456789abcdef"]]),
            ], config: fabric.options.stateDirectory + "/dxlclient-client2.config")
            // Refused by the broker, and told so at once (not left to time out).
            #expect((denied[0]["result"] as? [String: Any])?["message_type"] as? Int == 3, "\(denied[0])")
            #expect(((denied[0]["result"] as? [String: Any])?["error_message"] as? String)?.contains("client2 may not send") == true, "\(denied[0])")
            #expect(fabric.store.file(named: "A.EXE")?.reputations.isEmpty == true)
            let allowed = try await pythonTieCalls(fabric, [("set_file_reputation", ["trust_level": 1, "hashes": ["md5": "0123456789abcdef0123456789abcdef"]])])
            #expect(allowed[0]["error"] == nil, "\(allowed[0])")
            #expect(fabric.store.file(named: "A.EXE")?.reputations[3]?.trustLevel == 1)
            // External reports change reputations too: the same rule holds for them.
            let report = #"{"file": {"hashes": {"md5": "0123456789abcdef0123456789abcdef"}, "reputation": {"score": 99}}}"#
            let stranger = try DXLClient(config: fabric.clientConfig(client: "client2"))
            try await stranger.connect()
            try stranger.sendEvent(topic: TieTopic.externalFileReport, payload: Array(report.utf8))
            let reportDenied = await eventually(timeout: .seconds(10)) {
                fabric.journal.all.contains { $0.kind == .denied && $0.topic == TieTopic.externalFileReport }
            }
            #expect(reportDenied)
            #expect(fabric.store.file(named: "A.EXE")?.reputations[FileProvider.external.rawValue] == nil)
            let setter = try DXLClient(config: fabric.clientConfig(client: "client"))
            try await setter.connect()
            try setter.sendEvent(topic: TieTopic.externalFileReport, payload: Array(report.utf8))
            #expect(await eventually(timeout: .seconds(10)) { fabric.store.file(named: "A.EXE")?.reputations[FileProvider.external.rawValue]?.trustLevel == 99 })
            await stranger.disconnect()
            await setter.disconnect()
        }
    }

    @Test("an external report on a file TIE never saw keeps the records the server answered for it, as a set does")
    func externalReportOnUnknownFile() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let reporter = try DXLClient(config: fabric.clientConfig())
            try await reporter.connect()
            let report = #"{"file": {"hashes": {"md5": "00000000000000000000000000000bad"}, "reputation": {"score": 1}}}"#
            try reporter.sendEvent(topic: TieTopic.externalFileReport, payload: Array(report.utf8))
            let recorded = await eventually(timeout: .seconds(10)) {
                if case .found = fabric.store.file(hashes: [("md5", "00000000000000000000000000000bad")]) { return true }
                return false
            }
            #expect(recorded)
            guard case .found(let file) = fabric.store.file(hashes: [("md5", "00000000000000000000000000000bad")]) else { return }
            #expect(file.reputations[FileProvider.external.rawValue]?.trustLevel == 1)
            #expect(file.reputations[FileProvider.gti.rawValue]?.trustLevel == TrustLevel.unknown.rawValue, "\(file.reputations)")
            #expect(file.reputations[FileProvider.enterprise.rawValue] != nil, "\(file.reputations)")
            await reporter.disconnect()
        }
    }

    @Test("the control plane belongs to whoever runs the fabric: another certificate's load, play and reset are refused")
    func controlPlane() async throws {
        try await withFabric("files:\n  A.EXE:\n    md5: 0123456789abcdef0123456789abcdef\n") { fabric in
            let other = fabric.options.stateDirectory + "/dxlclient-client2.config"
            let refused = try await pythonTieCalls(fabric, [
                ("raw_request", ["topic": ControlService.prefix + "load", "payload": "files:\n  B.EXE:\n", "timeout": 10]),
                ("raw_request", ["topic": ControlService.prefix + "reset", "payload": "", "timeout": 10]),
                ("raw_request", ["topic": ControlService.prefix + "play", "payload": "timeline:\n  - brokerOutage: 1s\n", "timeout": 10]),
            ], config: other)
            for result in refused {
                #expect((result["result"] as? [String: Any])?["message_type"] as? Int == 3, "\(result)")
            }
            #expect(fabric.store.file(named: "B.EXE") == nil)
            #expect(fabric.store.file(named: "A.EXE") != nil)
            let allowed = try await pythonTieCalls(fabric, [("raw_request", ["topic": ControlService.prefix + "load", "payload": "files:\n  B.EXE:\n", "timeout": 10])])
            #expect((allowed[0]["result"] as? [String: Any])?["message_type"] as? Int == 1, "\(allowed[0])")
            #expect(fabric.store.file(named: "B.EXE") != nil)
        }
    }

    @Test("garbage, truncated, oversized and ill-typed messages on the bus are skipped; the services keep answering and the store is unchanged")
    func badMessagesOnTheBus() async throws {
        try await withFabric("files:\n  A.EXE:\n    md5: 0123456789abcdef0123456789abcdef\n    reputations: {GTI: KNOWN_TRUSTED}\n") { fabric in
            let before = fabric.store.file(named: "A.EXE")
            let losses = EventInbox<String>()
            let raw = try MQTTTransport(clientId: "raw-\(UUID())", tls: fabric.clientConfig(client: "client2").tlsFiles,
                                        handlers: .init(message: { _, _ in }, connectionLost: { losses.append($0) }))
            try await raw.connect(host: "127.0.0.1", port: fabric.broker.port)
            let valid = DXLMessageCodec.encode(.request(topic: TieTopic.setFileReputation, payload: #"{"trustLevel": 1, "hashes": [{"type": "md5", "value": "ASNFZ4mrze8BI0VniavN7w=="}]}"#))
            for topic in TieTopic.requestTopics + [TieTopic.externalFileReport, TieTopic.fileDetection, ServiceRegistryTopic.register] {
                try raw.publish(topic: topic, payload: Array("not DXL at all".utf8))
                try raw.publish(topic: topic, payload: Array(valid.prefix(valid.count / 2)))
                try raw.publish(topic: topic, payload: [])
            }
            var wrongTypes = DXLMessage.event(topic: TieTopic.externalFileReport, payload: #"{"file": {"hashes": {"md5": "abc"}, "reputation": {"score": "high"}}}"#)
            try raw.publish(topic: wrongTypes.destinationTopic, payload: DXLMessageCodec.encode(wrongTypes))
            wrongTypes = .event(topic: TieTopic.externalFileReport, payload: #"{"file": {"hashes": {"md5": "0123"}, "reputation": {"score": 99}}}"#)
            try raw.publish(topic: wrongTypes.destinationTopic, payload: DXLMessageCodec.encode(wrongTypes))
            // Over the broker's 1 MiB limit: mosquitto disconnects the sender; nobody else notices.
            try raw.publish(topic: TieTopic.getFileReputation, payload: [UInt8](repeating: 0x41, count: 2 << 20))
            // (The transport reconnects a moment later, so the loss is caught as it happens.)
            #expect(await losses.wait(for: 1, timeout: .seconds(10)).count == 1, "mosquitto drops a client that sends more than max_packet_size")
            raw.disconnect()
            let tie = TieClient(try await fabric.playerClientForTests())
            #expect(try await tie.getFileReputation(hashes: [.md5: "0123456789abcdef0123456789abcdef"])[FileProvider.gti]?.trustLevel == 99)
            #expect(fabric.store.file(named: "A.EXE") == before)
            #expect(fabric.internalClients.filter { !$0.isConnected }.isEmpty)
        }
    }

    @Test("a 1 GB scenario file is refused at once")
    func hugeScenario() throws {
        let path = NSTemporaryDirectory() + "huge-\(UUID().uuidString.prefix(8)).yaml"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 1 << 30)  // sparse: no disk used
        try handle.close()
        let clock = ContinuousClock()
        let start = clock.now
        do {
            _ = try ScenarioLoader.load(path: path)
            Issue.record("a 1 GB scenario was accepted")
        } catch {
            #expect(error.description.contains("is 1073741824 bytes, more than the 67108864-byte limit for scenarios"))
        }
        #expect(clock.now - start < .seconds(5))
    }
}
