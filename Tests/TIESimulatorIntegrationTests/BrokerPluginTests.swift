import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// The DXL broker inside mosquitto, driven by the unmodified Python dxlclient as the client under test.
@Suite("The DXL broker plugin: routing, broker services, authorisation", .timeLimit(.minutes(5)))
struct BrokerPluginTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python/broker_peer.py").path

    func peer(_ arguments: [String]) throws -> PythonPeer { try PythonPeer(arguments, script: Self.script) }

    /// How many requests each service of a `services` peer handled (asked with "counts").
    static func counts(of peer: PythonPeer) async -> [Int] {
        func parsed() -> [Int]? { peer.output.compactMap { (try? PythonPeer.json($0))?["counts"] as? [Int] }.last }
        _ = await eventually(timeout: .seconds(10)) { parsed() != nil }
        return parsed() ?? []
    }

    func ask(_ config: String, _ topic: String, count: Int, serviceId: String = "", timeout: Int = 10) async throws -> [String: Any] {
        let lines = try await PythonPeer.run(["ask", config, topic, String(count), serviceId, String(timeout)], script: Self.script, timeout: .seconds(180))
        return try PythonPeer.json(try #require(lines.last { $0.hasPrefix("{") }))
    }

    @Test("ten Python services on one topic: 1,000 requests, each handled exactly once, spread over all ten")
    func tenReplicas() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let replicas = try peer(["services", fabric.clientConfigPath, "/acme/replicated", "10"])
            defer { replicas.stop() }
            let ready = try PythonPeer.json(try await replicas.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") })
            let guids = try #require(ready["guids"] as? [String])
            let result = try await ask(fabric.options.stateDirectory + "/dxlclient-client2.config", "/acme/replicated", count: 1000)
            let answers = try #require(result["answers"] as? [String: Int])
            #expect(answers.values.reduce(0, +) == 1000)
            #expect(answers.count == 10)
            #expect(answers.values.allSatisfy { $0 == 100 })  // round-robin
            replicas.write("counts\n")
            #expect(await Self.counts(of: replicas).reduce(0, +) == 1000)  // handled exactly once: no replica saw a request twice
            // A request naming a service reaches only it.
            let named = try await ask(fabric.clientConfigPath, "/acme/replicated", count: 20, serviceId: guids[7])
            #expect(named["answers"] as? [String: Int] == ["7": 20])
        }
    }

    @Test("a service whose client unsubscribed, and one whose process was killed: 0x80000001 within a second, and gone from the registry")
    func deadServices() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let replicas = try peer(["services", fabric.clientConfigPath, "/acme/fragile", "1"])
            defer { replicas.stop() }
            let guid = try #require((try PythonPeer.json(try await replicas.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") })["guids"] as? [String])?.first)
            replicas.write("unsubscribe 0\n")
            _ = try await replicas.waitForLine { $0.contains("unsubscribed") }
            let result = try await ask(fabric.options.stateDirectory + "/dxlclient-client2.config", "/acme/fragile", count: 1)
            let error = try #require((result["errors"] as? [[String: Any]])?.first)
            #expect(error["code"] as? Int == -2_147_483_647)
            #expect(error["service_id"] as? String == guid)
            #expect((result["max_error_elapsed"] as? Double ?? 99) < 1)
            #expect(try await fabric.registeredServices().isEmpty)

            let killed = try peer(["services", fabric.clientConfigPath, "/acme/killed", "1"])
            _ = try await killed.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") }
            #expect(try await fabric.registeredServices().count == 1)
            killed.kill()
            let afterKill = try await ask(fabric.options.stateDirectory + "/dxlclient-client2.config", "/acme/killed", count: 1)
            #expect((afterKill["errors"] as? [[String: Any]])?.first?["code"] as? Int == -2_147_483_647)
            #expect((afterKill["max_error_elapsed"] as? Double ?? 99) < 1)
            #expect(try await fabric.registeredServices().isEmpty)
        }
    }

    @Test("broker registry, topic query, subscriber count, health and client registry answer dxlclient")
    func brokerServices() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let lines = try await PythonPeer.run(["broker", fabric.clientConfigPath, "/acme/watched"], script: Self.script, timeout: .seconds(60))
            let result = try PythonPeer.json(try #require(lines.last { $0.hasPrefix("{") }))
            let brokers = (result["brokers"] as? [String: Any])?["payload"] as? [String: Any]
            let entry = (brokers?["brokers"] as? [String: Any])?[fabric.brokerGuid] as? [String: Any]
            #expect(entry?["port"] as? Int == fabric.broker.port)
            #expect(entry?["guid"] as? String == fabric.brokerGuid)
            #expect((result["brokers"] as? [String: Any])?["source_broker_id"] as? String == fabric.brokerGuid)
            #expect(((result["topics"] as? [String: Any])?["payload"] as? [String: Any])?["exists"] as? Bool == true)
            #expect(((result["subs"] as? [String: Any])?["payload"] as? [String: Any])?["count"] as? Int == 1)
            let health = (result["health"] as? [String: Any])?["payload"] as? [String: Any]
            #expect((health?["connectedClients"] as? Int ?? 0) >= 1)
            #expect(health?["startTime"] is Int)
            #expect((result["me"] as? [String: Any])?["payload"] as? [String: Any] != nil)
            #expect((result["nobody"] as? [String: Any])?["error_code"] as? Int == -2_147_483_647)
        }
    }

    @Test("an MQTT client with a persistent session is a subscriber again when it comes back, without subscribing again")
    func persistentSession() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let lines = try await PythonPeer.run(["persistent", fabric.clientConfigPath, "/acme/kept"], script: Self.script, timeout: .seconds(60))
            let result = try PythonPeer.json(try #require(lines.last { $0.hasPrefix("{") }))
            #expect(result["subscribed"] as? Int == 1)
            #expect(result["away"] as? Int == 0)
            #expect(result["back"] as? Int == 1)
            #expect(result["received"] as? Bool == true)  // mosquitto did restore it: the count tells the truth
        }
    }

    @Test("the fake TIE is a registered service: with a Python TIE service beside it, every request is answered exactly once")
    func twoTieServices() async throws {
        try await withFabric(paths: ["scenarios/basic-detection.yaml"]) { fabric in
            let all = try await fabric.registeredServices(includingTiesim: true)
            #expect(all.contains { $0.serviceType == "/mcafee/service/tie" && $0.requestChannels.contains(TieTopic.getFileReputation) })
            let python = try peer(["tie", fabric.clientConfigPath])
            defer { python.stop() }
            _ = try await python.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") }
            let client = try DXLClient(config: fabric.clientConfig(client: "swift"))
            try await client.connect()
            let answered = EventInbox<String>()
            let payload = #"{"hashes": [{"type": "md5", "value": "614/2/xFuw+Gbv+z8ia8Ew=="}]}"#
            for _ in 0..<40 {
                let request = DXLMessage.request(topic: TieTopic.getFileReputation, payload: payload)
                client.asyncRequest(request, timeout: .seconds(10)) { result in
                    let reply = (try? result.get().payloadString) ?? "error"
                    answered.append(reply.contains("python-tie") ? "python" : reply.contains("reputations") ? "tiesim" : reply)
                }
            }
            let replies = await answered.wait(for: 40)
            #expect(replies.count == 40)
            #expect(replies.filter { $0 == "python" }.count == 20)
            #expect(replies.filter { $0 == "tiesim" }.count == 20)
            #expect(fabric.journal.all.filter { $0.kind == .request && $0.topic == TieTopic.getFileReputation }.count == 40)
            await client.disconnect()
        }
    }

    @Test("--no-tie: dxltieclient sees only the answers of the user's own TIE service")
    func noTie() async throws {
        try await withFabric(paths: ["scenarios/basic-detection.yaml"], configure: { $0.runsTie = false }) { fabric in
            #expect(try await fabric.registeredServices(includingTiesim: true).allSatisfy { $0.serviceType != "/mcafee/service/tie" })
            let python = try peer(["tie", fabric.clientConfigPath])
            defer { python.stop() }
            _ = try await python.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") }
            let results = try await pythonTieCalls(fabric, (0..<5).map { _ in
                ("get_file_reputation", ["hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab"]])
            }, config: fabric.options.stateDirectory + "/dxlclient-client2.config")
            for result in results {
                let reputations = result["result"] as? [String: Any]
                #expect((reputations?["1"] as? [String: Any])?["trustLevel"] as? Int == 99)
                #expect(reputations?.count == 1)
            }
        }
    }

    @Test("what a Python client publishes carries the broker's GUID and the client's id as its source")
    func sourceIds() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let client = try DXLClient(config: fabric.clientConfig(client: "swift"))
            try await client.connect()
            let inbox = EventInbox<DXLMessage>()
            try await client.addEventCallback(topic: "/acme/stamped") { inbox.append($0) }
            let lines = try await PythonPeer.run(["send-event", fabric.clientConfigPath, "/acme/stamped", "x"])
            let event = try #require(await inbox.wait(for: 1).first)
            #expect(event.sourceBrokerId == fabric.brokerGuid)
            #expect(!event.sourceClientId.isEmpty && event.sourceClientId.hasPrefix("{"))
            #expect(event.messageId == lines.first { $0.hasPrefix("{") })
            await client.disconnect()
        }
    }

    @Test("events keep their source ids and payloads whatever comes between them: routed and unserved requests, responses, another publisher")
    func eventsAroundRequests() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let clients = try (0..<4).map { _ in try DXLClient(config: fabric.clientConfig(client: "swift")) }
            let (subscriber, service, first, second) = (clients[0], clients[1], clients[2], clients[3])
            for client in clients { try await client.connect() }
            let inbox = EventInbox<DXLMessage>()
            _ = try await subscriber.addEventCallback(topic: "/acme/stream") { inbox.append($0) }
            let info = ServiceRegistrationInfo(serviceType: "/acme", requestHandlers: ["/acme/work": { request in
                try? service.send(.response(to: request, payload: Array("done".utf8)))
            }])
            try await service.registerService(info, timeout: .seconds(5))
            // Most events follow one another from one publisher (the broker's C fast path stamps those);
            // between them come requests, their responses, an unserved request and the other publisher's
            // events, each of which the core takes before the next event of the stream.
            let count = 300
            for index in 0..<count {
                let publisher = index % 50 < 40 ? first : second
                try publisher.sendEvent(topic: "/acme/stream", payload: Array("\(index)".utf8))
                if index % 30 == 7 {
                    let reply = try await first.request(.request(topic: "/acme/work", payload: "{}"), timeout: .seconds(5))
                    #expect(reply.type == .response && reply.payload == Array("done".utf8))
                }
                if index % 45 == 11 {
                    let unserved = try await first.request(.request(topic: "/acme/nobody", payload: "{}"), timeout: .seconds(5))
                    #expect(unserved.type == .errorResponse)
                }
            }
            let events = await inbox.wait(for: count, timeout: .seconds(20))
            #expect(events.count == count)
            for event in events {
                guard let index = Int(String(decoding: event.payload, as: UTF8.self)) else {
                    Issue.record("an event's payload changed: \(event.payload)")
                    continue
                }
                let publisher = index % 50 < 40 ? first : second
                #expect(event.sourceClientId == publisher.clientId, "event \(index)")
                #expect(event.sourceBrokerId == fabric.brokerGuid, "event \(index)")
            }
            #expect(events.compactMap { Int(String(decoding: $0.payload, as: UTF8.self)) }.filter { $0 % 50 < 40 } == (0..<count).filter { $0 % 50 < 40 })
            for client in clients { await client.disconnect() }
        }
    }

    @Test("one connection's events on an allowed topic, then on a refused one, then the allowed one again: only the allowed arrive")
    func refusedBetweenAllowed() async throws {
        try await withFabric("files:\n  A.EXE:\n", configure: { options in
            options.authorization = TopicAuthorization(send: [.init(topic: "/acme/guarded/#", clients: ["client"])])
        }) { fabric in
            let subscriber = try DXLClient(config: fabric.clientConfig(client: "client"))
            let publisher = try DXLClient(config: fabric.clientConfig(client: "swift"))
            try await subscriber.connect()
            try await publisher.connect()
            let inbox = EventInbox<DXLMessage>()
            _ = try await subscriber.addEventCallback(topic: "/acme/#") { inbox.append($0) }
            // The broker stamps the first events of the stream through its core and the rest through its
            // fast path; a send on a refused topic from the same connection must still meet the rule.
            for index in 0..<20 { try publisher.sendEvent(topic: "/acme/open", payload: Array("open-\(index)".utf8)) }
            try publisher.sendEvent(topic: "/acme/guarded/x", payload: Array("refused".utf8))
            for index in 20..<40 { try publisher.sendEvent(topic: "/acme/open", payload: Array("open-\(index)".utf8)) }
            let events = await inbox.wait(for: 40, timeout: .seconds(20))
            #expect(events.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<40).map { "open-\($0)" })
            #expect(events.allSatisfy { $0.sourceClientId == publisher.clientId && $0.sourceBrokerId == fabric.brokerGuid })
            _ = await eventually(timeout: .seconds(10)) { fabric.journal.all.contains { $0.kind == .denied } }
            #expect(fabric.journal.all.filter { $0.kind == .denied }.compactMap(\.note).contains { $0.contains("may not send on /acme/guarded/x") })
            await publisher.disconnect()
            await subscriber.disconnect()
        }
    }

    @Test("topic authorisation: an allowed send arrives, a refused send and a refused recipient do not, and are journaled")
    func authorization() async throws {
        try await withFabric("files:\n  A.EXE:\n", configure: { options in
            options.authorization = TopicAuthorization(send: [.init(topic: "/acme/guarded/#", clients: ["client", "tiesim"])],
                                                       receive: [.init(topic: "/acme/secret", clients: ["client", "tiesim"])])
        }) { fabric in
            let listener = try PythonPeer(["listen", fabric.clientConfigPath, "/acme/#", "2", "20"])
            defer { listener.stop() }
            let outsider = try PythonPeer(["listen", fabric.options.stateDirectory + "/dxlclient-client2.config", "/acme/#", "1", "20"])
            defer { outsider.stop() }
            _ = try await listener.waitForLine { $0 == "READY" }
            _ = try await outsider.waitForLine { $0 == "READY" }
            let client2 = fabric.options.stateDirectory + "/dxlclient-client2.config"
            _ = try await PythonPeer.run(["send-event", client2, "/acme/guarded/x", "refused"])  // client2 may not send here
            _ = try await PythonPeer.run(["send-event", fabric.clientConfigPath, "/acme/secret", "only-client"])  // client2 may not receive
            _ = try await PythonPeer.run(["send-event", fabric.clientConfigPath, "/acme/guarded/x", "allowed"])
            try await listener.waitForExit(timeout: .seconds(20))
            let seen = listener.output.filter { $0.hasPrefix("{") }.compactMap { try? PythonPeer.json($0)["payload_hex"] as? String }
            #expect(seen == [hex(Array("only-client".utf8)), hex(Array("allowed".utf8))])
            try await outsider.waitForExit(timeout: .seconds(20))
            let outsiderSaw = outsider.output.filter { $0.hasPrefix("{") }.compactMap { try? PythonPeer.json($0)["payload_hex"] as? String }
            #expect(outsiderSaw == [hex(Array("allowed".utf8))])
            _ = await eventually(timeout: .seconds(10)) { fabric.journal.all.filter { $0.kind == .denied }.count >= 2 }
            let denied = fabric.journal.all.filter { $0.kind == .denied }.compactMap(\.note)
            #expect(denied.contains { $0.contains("client2 may not send on /acme/guarded/x") })
            #expect(denied.contains { $0.contains("client2 may not receive on /acme/secret") })
        }
    }

    @Test("a fabric of three brokers: one registry, requests from broker 3 reach exactly one instance wherever it is registered",
          arguments: [BrokerNetwork.Topology.hub, .chain])
    func acrossBrokers(topology: BrokerNetwork.Topology) async throws {
        try await withFabric("fabric: {brokers: 3, topology: \(topology.rawValue)}\nfiles:\n  A.EXE:\n") { fabric in
            let state = fabric.options.stateDirectory
            let onTwo = try peer(["services", state + "/dxlclient-broker-2.config", "/acme/spread", "2"])
            defer { onTwo.stop() }
            let onOne = try peer(["services", state + "/dxlclient-broker-1.config", "/acme/spread", "2"])
            defer { onOne.stop() }
            let guidsTwo = try #require(try PythonPeer.json(try await onTwo.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") })["guids"] as? [String])
            _ = try await onOne.waitForLine { $0.contains("\"ready\"") && $0.hasSuffix("}") }
            // Broker 3 learns the services registered on brokers 1 and 2.
            let client = try DXLClient(config: fabric.clientConfig(client: "swift", brokers: [3]))
            try await client.connect()
            var listed: JSONObject = [:]
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while clock.now < deadline {
                let reply = try await client.request(.request(topic: ServiceRegistryTopic.query, payload: #"{"serviceType": "/tiesim/test/replica"}"#), timeout: .seconds(5))
                listed = try JSONValue.parse(reply.payload)["services"]?.objectValue ?? [:]
                if listed.count == 4 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(listed.count == 4)
            #expect(listed[guidsTwo[0]]?["brokerGuid"] == .string(fabric.network.guids[1]))
            #expect(listed[guidsTwo[0]]?["local"] == .bool(false))
            let result = try await ask(state + "/dxlclient-broker-3.config", "/acme/spread", count: 100)
            let answers = try #require(result["answers"] as? [String: Int])
            #expect(answers.values.reduce(0, +) == 100)
            onTwo.write("counts\n")
            onOne.write("counts\n")
            let two = await Self.counts(of: onTwo)
            let one = await Self.counts(of: onOne)
            #expect(two + one == [25, 25, 25, 25])  // each request handled once, round-robin over all four
            let named = try await ask(state + "/dxlclient-broker-3.config", "/acme/spread", count: 10, serviceId: guidsTwo[1])
            #expect(named["answers"] as? [String: Int] == ["1": 10])
            let brokers = try await client.request(.request(topic: "/mcafee/service/dxl/brokerregistry/query", payload: "{}"), timeout: .seconds(5))
            let registry: JSONObject = try JSONValue.parse(brokers.payload)["brokers"]?.objectValue ?? [:]
            #expect(Set(registry.keys) == Set(fabric.network.guids))
            // Each broker's WebSocket listener, as a DXL broker reports it, the remote ones too.
            for (index, guid) in fabric.network.guids.enumerated() {
                let port = try #require(fabric.network.brokers[index].webSocketPort)
                let reported: JSONValue? = registry[guid]?["webSocketPort"]
                #expect(reported == JSONValue.int(Int64(port)), "broker \(index + 1)")
            }
            await client.disconnect()
        }
    }

    @Test("malformed messages from a client are passed on or refused: the broker plugin never takes mosquitto down")
    func malformedInput() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let raw = try MQTTTransport(clientId: "raw-\(UUID())", tls: fabric.clientConfig(client: "swift").tlsFiles, handlers: .init(message: { _, _ in }))
            try await raw.connect(host: "127.0.0.1", port: fabric.broker.port)
            var request = DXLMessage.request(topic: "/acme/x", payload: "{}")
            request.replyToTopic = "/mcafee/client/raw"
            let valid = DXLMessageCodec.encode(request)
            let hostile: [[UInt8]] = [
                [], Array("not msgpack at all".utf8), [0x02, 0x00, 0xdb, 0xff, 0xff, 0xff, 0xff], Array(valid.prefix(valid.count / 2)),
                [0x02, 0x00, 0xa1, 0x41, 0xa0, 0xa0, 0xdd, 0x7f, 0xff, 0xff, 0xff], BrokerCore.droppedMarker, valid + valid,
            ]
            for topic in ["/acme/x", ServiceRegistryTopic.register, ServiceRegistryTopic.query, BrokerCore.Topic.announce, BrokerCore.Topic.fabric] {
                for bytes in hostile { try raw.publish(topic: topic, payload: bytes) }
            }
            raw.disconnect()
            // mosquitto is still up and its plugin still answers and routes.
            #expect(fabric.broker.isRunning)
            let lines = try await PythonPeer.run(["broker", fabric.clientConfigPath, "/acme/after"], script: Self.script, timeout: .seconds(60))
            let result = try PythonPeer.json(try #require(lines.last { $0.hasPrefix("{") }))
            #expect(((result["subs"] as? [String: Any])?["payload"] as? [String: Any])?["count"] as? Int == 1)
            #expect(try await fabric.registeredServices(includingTiesim: true).contains { $0.serviceType == "/mcafee/service/tie" })
        }
    }

    @Test("without the broker plugin next to it, tiesim up says what is missing and exits 3")
    func pluginMissing() async throws {
        // A copy of tiesim in a folder of its own: the plugin is not next to it.
        let folder = NSTemporaryDirectory() + "tiesim-noplugin-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: tiesimExecutable, toPath: folder + "/tiesim")
        let state = folder + "/state"
        let process = try ChildProcess(executable: folder + "/tiesim", arguments: ["up", "--state-dir", state, "--no-http"], outputPath: folder + "/out")
        defer { process.terminate() }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while process.isRunning && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let output = (try? String(contentsOfFile: folder + "/out", encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 3)
        #expect(output.contains("libtiesim-broker.so was not found"), "\(output)")
        #expect(output.contains("TIESIM_BROKER_PLUGIN"))
    }
}
