import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// Fabrics of several real mosquitto brokers joined by bridges: events reach every broker exactly once,
/// requests cross brokers, and clients that list several brokers fail over.
@Suite("Bridged multi-broker fabrics", .timeLimit(.minutes(3)))
struct MultiBrokerTests {
    static let seed = """
    fabric:
      brokers: 3
      topology: TOPOLOGY
    files:
      FOCUS_MALWARE2.EXE:
        md5: eb5e2b9dc51817a086d7b97eb52410ab
        sha1: 435dfd470f727437c7cb4f07cba1f9a1f4272656
        sha256: 414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb
        reputations: {GTI: KNOWN_MALICIOUS}
    """

    static func scenario(_ topology: BrokerNetwork.Topology, timeline: String = "") -> String {
        seed.replacingOccurrences(of: "TOPOLOGY", with: topology.rawValue) + timeline
    }

    /// A Swift client of broker `number` that counts the events it receives on `topic`.
    static func counter(_ fabric: SimulatedFabric, broker number: Int, topic: String) async throws -> (DXLClient, EventInbox<DXLMessage>) {
        let client = try DXLClient(config: fabric.clientConfig(client: "swift", brokers: [number]))
        try await client.connect()
        let inbox = EventInbox<DXLMessage>()
        _ = try await client.addEventCallback(topic: topic) { inbox.append($0) }
        return (client, inbox)
    }

    @Test("a Python DetectionCallback on broker 1 receives the detection played on broker 3; every broker sees it exactly once")
    func detectionCrossesTheHub() async throws {
        let timeline = """

        timeline:
          - detection: {file: FOCUS_MALWARE2.EXE, agentGuid: "{68125cd6-a5d8-11e6-348e-000c29663178}", detectionTime: 1481301796}
            broker: 3
            repeat: 3
        """
        try await withFabric(Self.scenario(.hub, timeline: timeline)) { fabric in
            #expect(fabric.network.brokers.count == 3)
            let peer = try tiePeer(["callbacks", fabric.options.stateDirectory + "/dxlclient-broker-1.config", "detection", "3", "30"])
            defer { peer.stop() }
            try await peer.waitForLine { $0 == "READY" }
            let counters = try await (1...3).asyncMap { try await Self.counter(fabric, broker: $0, topic: TieTopic.fileDetection) }
            let played = Task { try await fabric.play() }
            var dictionaries: [JSONValue] = []
            for _ in 0..<3 {
                dictionaries.append(try jsonValue(try PythonPeer.json(try await peer.waitForLine { $0.hasPrefix("{") })["dict"] as Any))
            }
            #expect(Set(dictionaries.map { $0["name"] }) == [.string("FOCUS_MALWARE2.EXE")])
            #expect(dictionaries[0]["agentGuid"] == "{68125cd6-a5d8-11e6-348e-000c29663178}")
            #expect(dictionaries[0]["hashes"]?["md5"] == "eb5e2b9dc51817a086d7b97eb52410ab")
            _ = try await played.value
            try await Task.sleep(for: .milliseconds(500))  // time for a duplicate to show up, were there one
            for (number, (client, inbox)) in counters.enumerated() {
                #expect(inbox.count == 3, "broker \(number + 1) delivered \(inbox.count) of 3")
                await client.disconnect()
            }
        }
    }

    @Test("events published on any broker of a hub or a chain reach subscribers on every broker exactly once (no bridge loops)",
          arguments: [BrokerNetwork.Topology.hub, .chain], [1, 2, 3])
    func deliversExactlyOnce(topology: BrokerNetwork.Topology, from publisher: Int) async throws {
        try await withFabric(Self.scenario(topology)) { fabric in
            let topic = "/tiesim/test/\(topology.rawValue)/\(publisher)"
            let counters = try await (1...3).asyncMap { try await Self.counter(fabric, broker: $0, topic: topic) }
            let sender = try DXLClient(config: fabric.clientConfig(client: "client2", brokers: [publisher]))
            try await sender.connect()
            for index in 0..<20 { try sender.sendEvent(topic: topic, payload: Array("event \(index)".utf8)) }
            for (_, inbox) in counters { await inbox.wait(for: 20) }
            try await Task.sleep(for: .milliseconds(500))
            for (number, (client, inbox)) in counters.enumerated() {
                #expect(inbox.count == 20, "broker \(number + 1) delivered \(inbox.count) of 20")
                #expect(inbox.all.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<20).map { "event \($0)" })
                await client.disconnect()
            }
            await sender.disconnect()
        }
    }

    @Test("a Python request on broker 2 is answered by the fake TIE on broker 1; unserved topics get the broker's error there too")
    func requestsCrossBrokers() async throws {
        try await withFabric(Self.scenario(.hub)) { fabric in
            let results = try await pythonTieCalls(fabric, [
                ("get_file_reputation", ["hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab"]]),
                ("raw_request", ["topic": "/nobody/serves/this", "payload": "{}", "timeout": 5]),
            ], config: fabric.options.stateDirectory + "/dxlclient-broker-2.config")
            let reputations = try jsonValue(results[0]["result"] as Any)
            #expect(reputations["1"]?["trustLevel"] == .int(Int64(TrustLevel.knownMalicious.rawValue)), "\(results[0])")
            #expect(results[1]["error"] == nil, "\(results[1])")
            let error = try #require(results[1]["result"] as? [String: Any])
            #expect(error["error_code"] as? Int == Int(Int32(bitPattern: 0x8000_0001)))
            #expect(error["error_message"] as? String == "unable to locate service for request")
            #expect((results[1]["elapsed"] as? Double ?? 99) < 2)
        }
    }

    @Test("a Python service on broker 3 serves a Python requester on broker 2")
    func servicesAcrossBrokers() async throws {
        try await withFabric(Self.scenario(.chain)) { fabric in
            let service = try tiePeer(["serve", fabric.options.stateDirectory + "/dxlclient-broker-3.config", "/tiesim/test/bridged-echo"])
            defer { service.stop() }
            try await service.waitForLine { $0 == "READY" }
            // The registration reached broker 3 first; it crosses the bridges on its own time (as on a real
            // fabric): wait until broker 1, past broker 2 in the chain, lists it.
            #expect(try await eventually(timeout: .seconds(10)) {
                try await fabric.registeredServices().contains { $0.requestChannels.contains("/tiesim/test/bridged-echo") }
            })
            let results = try await pythonTieCalls(fabric, [("raw_request", ["topic": "/tiesim/test/bridged-echo", "payload": "ping", "timeout": 10])],
                                                   config: fabric.options.stateDirectory + "/dxlclient-broker-2.config")
            let response = try #require(results[0]["result"] as? [String: Any], "\(results)")
            #expect(response["payload"] as? String == "echo:ping", "\(results)")
        }
    }

    /// The broker (1-based) whose log shows the latest connection with client certificate `user`.
    static func brokerHolding(_ user: String, in fabric: SimulatedFabric, among numbers: [Int]) -> Int? {
        numbers.max { a, b in
            Self.lastConnection(user, log: fabric.network.broker(a).logPath) < Self.lastConnection(user, log: fabric.network.broker(b).logPath)
        }.flatMap { Self.lastConnection(user, log: fabric.network.broker($0).logPath) > 0 ? $0 : nil }
    }

    /// Whether the latest client of `user` in the log has subscribed to its reply topic since it connected.
    static func subscribedToReplies(_ user: String, log: String) -> Bool {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard let connected = text.range(of: " connected as '\(user)'", options: .backwards) else { return false }
        let id = text[..<connected.lowerBound].split(separator: " ").last.map(String.init) ?? ""
        return !id.isEmpty && text[connected.upperBound...].contains("\(id) 0 /mcafee/client/\(id)")
    }

    /// How many connections of `user` the log shows (0 when none).
    static func lastConnection(_ user: String, log: String) -> Int {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.components(separatedBy: "connected as '\(user)'").count - 1
    }

    @Test("a Python client listing brokers 2 and 3 keeps working when the broker it uses is stopped")
    func pythonClientFailsOver() async throws {
        try await withFabric(Self.scenario(.hub)) { fabric in
            let config = fabric.options.stateDirectory + "/dxlclient-failover.config"
            try fabric.clientConfig(client: "client2", brokers: [2, 3]).write(to: config)
            let peer = try tiePeer(["calls", config])
            defer { peer.stop() }
            let call = #"{"method": "get_file_reputation", "kwargs": {"hashes": {"md5": "eb5e2b9dc51817a086d7b97eb52410ab"}}}"# + "\n"
            peer.write(call)
            let before = try PythonPeer.json(try await peer.waitForLine { $0.hasPrefix("{") })
            #expect(before["error"] == nil, "\(before)")
            let first = try #require(Self.brokerHolding("client2", in: fabric, among: [2, 3]))
            let other = first == 2 ? 3 : 2
            let connectionsBefore = Self.lastConnection("client2", log: fabric.network.broker(other).logPath)
            fabric.network.broker(first).stop()
            await eventually(timeout: .seconds(30)) { Self.lastConnection("client2", log: fabric.network.broker(other).logPath) != connectionsBefore }
            #expect(Self.lastConnection("client2", log: fabric.network.broker(other).logPath) > connectionsBefore, "the client did not move to broker \(other)")
            // dxlclient subscribes again right after the connect: its reply topic must be back before it asks.
            #expect(await eventually(timeout: .seconds(10)) { Self.subscribedToReplies("client2", log: fabric.network.broker(other).logPath) })
            peer.write(call)
            let after = try PythonPeer.json(try await peer.waitForLine(timeout: .seconds(40)) { $0.hasPrefix("{") })
            #expect(after["error"] == nil, "\(after)")
            #expect(try jsonValue(after["result"] as Any) == (try jsonValue(before["result"] as Any)))
        }
    }

    @Test("a Swift client listing brokers 2 and 3 fails over when its broker stops: requests and events keep working")
    func swiftClientFailsOver() async throws {
        let timeline = """

        timeline:
          - detection: {file: FOCUS_MALWARE2.EXE}
            broker: 1
        """
        try await withFabric(Self.scenario(.hub, timeline: timeline)) { fabric in
            let client = try DXLClient(config: fabric.clientConfig(client: "swift", brokers: [2, 3]))
            try await client.connect()
            let tie = TieClient(client)
            let detections = EventInbox<Detection>()
            try await tie.addFileDetectionCallback { detections.append($0) }
            let first = try #require(client.connectedBroker)
            #expect(first.uniqueId == "broker-2")
            fabric.network.broker(2).stop()
            await eventually(timeout: .seconds(20)) { client.connectedBroker?.uniqueId == "broker-3" && client.isConnected }
            #expect(client.connectedBroker?.uniqueId == "broker-3")
            #expect(client.isConnected)
            let reputations = try await tie.getFileReputation(hashes: [.md5: "eb5e2b9dc51817a086d7b97eb52410ab"])
            #expect(reputations[FileProvider.gti]?.trustLevel == TrustLevel.knownMalicious.rawValue)
            // The restored subscription reaches broker 3 right after the reconnect; wait until the brokers know it.
            try await fabric.watcher.waitForSubscriber(of: TieTopic.fileDetection, timeout: .seconds(10))
            try await fabric.play()
            let received = await detections.wait(for: 1)
            #expect(received.first?.name == "FOCUS_MALWARE2.EXE")
            await client.disconnect()
        }
    }

    @Test("a Swift client whose brokers both went away comes back to whichever returns first, its first broker included")
    func swiftClientReturnsToItsFirstBroker() async throws {
        try await withFabric(Self.scenario(.hub)) { fabric in
            let client = try DXLClient(config: fabric.clientConfig(client: "swift", brokers: [2, 3]))
            try await client.connect()
            #expect(client.connectedBroker?.uniqueId == "broker-2")
            fabric.network.broker(2).stop()
            await eventually(timeout: .seconds(20)) { client.connectedBroker?.uniqueId == "broker-3" && client.isConnected }
            #expect(client.connectedBroker?.uniqueId == "broker-3")
            // Now broker 3 goes too, and only broker 2 comes back: the client must dial broker 2 again.
            fabric.network.broker(3).stop()
            try await Task.sleep(for: .seconds(1))
            try await fabric.network.broker(2).restart()
            await eventually(timeout: .seconds(30)) { client.connectedBroker?.uniqueId == "broker-2" && client.isConnected }
            #expect(client.connectedBroker?.uniqueId == "broker-2", "the client did not return to broker 2")
            #expect(client.isConnected)
            await client.disconnect()
        }
    }

    @Test("topic authorisation in a bridged fabric: an unauthorised set on broker 2 is dropped, an authorised one crosses the bridge")
    func authorisationAcrossBridges() async throws {
        try await withFabric(Self.scenario(.hub), configure: { $0.authorizedSetters = ["client2"] }) { fabric in
            let md5 = "eb5e2b9dc51817a086d7b97eb52410ab"
            let set = #"{"trustLevel": 99, "providerId": 3, "filename": "", "comment": "", "hashes": [{"type": "md5", "value": "614rncUYF6CG17l+tSQQqw=="}]}"#
            // dxlclient-broker-2.config uses the certificate "client", which may not set.
            let denied = try await pythonTieCalls(fabric, [("raw_request", ["topic": TieTopic.setFileReputation, "payload": set, "timeout": 2])],
                                                  config: fabric.options.stateDirectory + "/dxlclient-broker-2.config")
            #expect((denied[0]["result"] as? [String: Any])?["message_type"] as? Int == 3, "\(denied[0])")
            #expect(fabric.store.file(named: "FOCUS_MALWARE2.EXE")?.reputations[3] == nil, "the unauthorised set reached the store")
            let config = fabric.options.stateDirectory + "/dxlclient-client2-broker-2.config"
            try fabric.clientConfig(client: "client2", brokers: [2]).write(to: config)
            let allowed = try await pythonTieCalls(fabric, [("set_file_reputation", ["trust_level": 99, "hashes": ["md5": md5]])], config: config)
            #expect(allowed[0]["error"] == nil, "\(allowed[0])")
            #expect(fabric.store.file(named: "FOCUS_MALWARE2.EXE")?.reputations[3]?.trustLevel == 99)
        }
    }

    @Test("tiesim run plays a step with broker: 3 through the third broker its config lists")
    func runOnANamedBroker() async throws {
        try await withFabric(Self.scenario(.hub)) { fabric in
            let (client, inbox) = try await Self.counter(fabric, broker: 2, topic: TieTopic.fileDetection)
            let scenario = fabric.options.stateDirectory + "/on-broker-3.yaml"
            try (Self.scenario(.hub, timeline: "\ntimeline:\n  - detection: {file: FOCUS_MALWARE2.EXE}\n    broker: 3\n")).write(toFile: scenario, atomically: true, encoding: .utf8)
            let before = Self.lastConnection("client", log: fabric.network.broker(3).logPath)
            let run = try TiesimProcess(["run", scenario, "--config", fabric.clientConfigPath], stateDirectory: fabric.options.stateDirectory + "/run")
            defer { run.cleanUp() }
            #expect(try await run.waitForExit() == 0, "\(run.output)")
            #expect(await inbox.wait(for: 1).count == 1)
            #expect(Self.lastConnection("client", log: fabric.network.broker(3).logPath) > before, "the step did not go through broker 3")
            await client.disconnect()
        }
    }

    @Test("a brokerOutage step stops the named broker and brings it back; the bridges reconnect")
    func outageOfOneBroker() async throws {
        let timeline = """

        timeline:
          - brokerOutage: 1s
            broker: 2
          - detection: {file: FOCUS_MALWARE2.EXE}
            broker: 2
            waitForSubscriber: false
        """
        try await withFabric(Self.scenario(.hub, timeline: timeline)) { fabric in
            let (client, inbox) = try await Self.counter(fabric, broker: 1, topic: TieTopic.fileDetection)
            let results = try await fabric.play()
            #expect(results.count == 2)
            #expect(await inbox.wait(for: 1).count == 1, "the event played on broker 2 after its outage did not cross the bridge")
            let faults = fabric.journal.all.filter { $0.kind == .fault }.map(\.note)
            #expect(faults.contains("broker 2 stopped for 1.0 seconds"), "\(faults)")
            await client.disconnect()
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
