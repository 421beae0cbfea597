import DXL
import DXLFabric
import TestSupport
import Foundation
import Synchronization
import Testing

@Suite("Swift DXL client through a real mosquitto broker", .timeLimit(.minutes(3)))
struct SwiftClientTests {
    @Test("an event published by one client reaches another client's callback unchanged")
    func eventRoundTrip() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let subscriber = try await fabric.connectedClient()
        let publisher = try await fabric.connectedClient()
        let inbox = EventInbox<DXLMessage>()
        try await subscriber.addEventCallback(topic: "/mcafee/event/tie/file/detection") { inbox.append($0) }
        let event = DXLMessage.event(topic: "/mcafee/event/tie/file/detection", payload: #"{"hash":"abc"}"#)
        try publisher.send(event)
        let received = await inbox.wait(for: 1)
        #expect(received.count == 1)
        #expect(received.first?.messageId == event.messageId)
        #expect(received.first?.payload == event.payload)
        #expect(received.first?.destinationTopic == event.destinationTopic)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test("a client whose socket is numbered above 1024 (past select's FD_SETSIZE) connects, sends and receives", .timeLimit(.minutes(1)))
    func highDescriptors() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        // Hold the low descriptors, so that the clients' sockets get numbers from 1024 up, as in a process
        // with many files open (libmosquitto's own loop refuses those: select(2)'s FD_SETSIZE).
        var held: [Int32] = []
        while held.count < 1100 {
            let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { break }
            held.append(descriptor)
        }
        defer { for descriptor in held { close(descriptor) } }
        try #require((held.last ?? 0) >= 1024, "could not open enough files to test (ulimit -n)")
        let subscriber = try await fabric.connectedClient()
        let publisher = try await fabric.connectedClient()
        let inbox = EventInbox<[UInt8]>()
        try await subscriber.addEventCallback(topic: "/high") { inbox.append($0.payload) }
        for index in 0..<100 { try publisher.sendEvent(topic: "/high", payload: Array("\(index)".utf8)) }
        #expect(await inbox.wait(for: 100, timeout: .seconds(20)).count == 100)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test("a burst of events arrives whole, in order, the last ones too (records OpenSSL read ahead are not left waiting)")
    func burstArrivesWhole() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let subscriber = try await fabric.connectedClient()
        let publisher = try await fabric.connectedClient()
        let inbox = EventInbox<Int>()
        try await subscriber.addEventCallback(topic: "/burst") { inbox.append(Int(String(decoding: $0.payload, as: UTF8.self)) ?? -1) }
        let count = 20_000
        for index in 0..<count {
            try publisher.sendEvent(topic: "/burst", payload: Array("\(index)".utf8))
            if index % 512 == 0 { await publisher.waitForSendCapacity(limit: 5_000) }
        }
        // Nothing follows the burst on the subscriber's socket: a record buffered and not read would stay.
        let received = await inbox.wait(for: count, timeout: .seconds(60))
        #expect(received == Array(0..<count))
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test("a producer waiting for room is woken once half its window is written, and when its connection goes", .timeLimit(.minutes(1)))
    func flowControlWakes() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let broker = try #require(fabric.broker.processIdentifier)
        let publisher = try await fabric.connectedClient()
        // A paused broker reads nothing: past the sockets' buffers (some MB, depending on the host's TCP
        // settings) the events stay unwritten.
        let payload = [UInt8](repeating: 0x61, count: 2_000)
        kill(broker, SIGSTOP)
        var paused = true
        defer { if paused { kill(broker, SIGCONT) } }
        for _ in 0..<40_000 { try publisher.sendEvent(topic: "/flow", payload: payload) }
        // The sockets take what the kernel buffers, in bursts as it makes room: wait until the count holds still.
        var queued = publisher.unwrittenPublishes
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(200))
            let now = publisher.unwrittenPublishes
            if now == queued { break }
            queued = now
        }
        try #require(queued > 4_000, "the sockets took nearly everything: \(queued) events left to wait for")
        let limit = queued / 2

        let woken = Atomic<Bool>(false)
        let waiter = Task {
            await publisher.waitForSendCapacity(limit: limit)
            woken.store(true, ordering: .releasing)
            return publisher.unwrittenPublishes
        }
        try await Task.sleep(for: .milliseconds(500))
        let endedEarly = woken.load(ordering: .acquiring)
        #expect(!endedEarly, "the wait ended while the broker read nothing")
        #expect(publisher.unwrittenPublishes == queued)
        kill(broker, SIGCONT)
        paused = false
        #expect(await waiter.value <= limit / 2, "woken before half of the window was written")
        #expect(publisher.isConnected)

        // Paused again with events queued, a wait for all of them ends when the client disconnects.
        kill(broker, SIGSTOP)
        paused = true
        for _ in 0..<20_000 { try publisher.sendEvent(topic: "/flow", payload: payload) }
        let drained = Task { await publisher.waitForSendCapacity(limit: 0) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(publisher.unwrittenPublishes > 0)
        await publisher.disconnect()
        await drained.value
        #expect(publisher.unwrittenPublishes == 0)
        // Nothing is queued (and counted) on a connection being closed.
        do {
            try publisher.sendEvent(topic: "/flow", payload: payload)
            Issue.record("an event was accepted after disconnect()")
        } catch .notConnected {
        } catch {
            Issue.record("expected notConnected, got \(error)")
        }
        #expect(publisher.unwrittenPublishes == 0)
    }

    @Test("a trailing-# callback receives events below it and only those")
    func wildcardCallbacks() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let subscriber = try await fabric.connectedClient()
        let publisher = try await fabric.connectedClient()
        let inbox = EventInbox<String>()
        try await subscriber.addEventCallback(topic: "/mcafee/event/tie/#") { inbox.append($0.destinationTopic) }
        for topic in ["/mcafee/event/tie/file/detection", "/mcafee/event/other", "/mcafee/event/tie/cert/repchange/broadcast", "/mcafee/event/tie/last"] {
            try publisher.sendEvent(topic: topic, payload: [])
        }
        // One publisher's events arrive in order: once the last is in, the one on another branch would be too.
        _ = await inbox.wait(for: 3)
        #expect(inbox.all == ["/mcafee/event/tie/file/detection", "/mcafee/event/tie/cert/repchange/broadcast", "/mcafee/event/tie/last"])
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test("a client does not receive its own publications", arguments: [MQTTProtocolVersion.v311, .v5])
    func ignoresOwnPublications(version: MQTTProtocolVersion) async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        var config = fabric.config()
        config.protocolVersion = version
        let client = try DXLClient(config: config)
        try await client.connect()
        let other = try await fabric.connectedClient()
        let inbox = EventInbox<String>()
        try await client.addEventCallback(topic: "/echo") { inbox.append($0.payloadString) }
        try client.sendEvent(topic: "/echo", payload: Array("mine".utf8))
        try other.sendEvent(topic: "/echo", payload: Array("theirs".utf8))
        await inbox.wait(for: 1)
        try await Task.sleep(for: .milliseconds(200))
        #expect(inbox.all == ["theirs"])
        await client.disconnect()
        await other.disconnect()
    }

    @Test("a request is answered by a service, matched by message id, over MQTT 3.1.1 and 5", arguments: [MQTTProtocolVersion.v311, .v5])
    func requestResponse(version: MQTTProtocolVersion) async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        var config = fabric.config()
        config.protocolVersion = version
        let service = try DXLClient(config: config)
        try await service.connect()
        try await service.registerService(ServiceRegistrationInfo(serviceType: "/tiesim/test", requestHandlers: ["/tiesim/test/echo": { request in
            try? service.send(.response(to: request, payload: "echo:" + request.payloadString))
        }]))
        let requester = try await fabric.connectedClient()
        let request = DXLMessage.request(topic: "/tiesim/test/echo", payload: "ping")
        let response = try await requester.request(request, timeout: .seconds(5))
        #expect(response.type == .response)
        #expect(response.requestMessageId == request.messageId)
        #expect(response.payloadString == "echo:ping")
        await requester.disconnect()
        await service.disconnect()
    }

    @Test("a client with a message limit answers an oversized response with an error and refuses an oversized event (send and sendEvent)", .timeLimit(.minutes(1)))
    func messageLimit() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        var config = fabric.config()
        config.maxMessageSize = 2_000
        let service = try DXLClient(config: config)
        try await service.connect()
        try await service.registerService(ServiceRegistrationInfo(serviceType: "/tiesim/test", requestHandlers: ["/tiesim/test/big": { request in
            try? service.send(.response(to: request, payload: [UInt8](repeating: 0x61, count: Int(request.payloadString) ?? 0)))
        }]))
        let requester = try await fabric.connectedClient()
        let small = try await requester.request(.request(topic: "/tiesim/test/big", payload: "100"), timeout: .seconds(5))
        #expect(small.type == .response && small.payload.count == 100)
        let big = try await requester.request(.request(topic: "/tiesim/test/big", payload: "5000"), timeout: .seconds(5))
        #expect(big.type == .errorResponse)
        #expect(big.normalizedErrorCode == DXLErrorCode.responseTooLarge)
        #expect(big.errorMessage?.contains("larger than the fabric's message limit (2000 bytes)") == true, "\(big.errorMessage ?? "")")
        #expect(throws: DXLError.self) { try service.send(.event(topic: "/tiesim/test/event", payload: [UInt8](repeating: 0x62, count: 5_000))) }
        // `sendEvent` on a topic the client does not subscribe to takes a path of its own (pre-encoded fields).
        let tooLarge = #expect(throws: DXLError.self) { try service.sendEvent(topic: "/tiesim/test/event", payload: [UInt8](repeating: 0x62, count: 5_000)) }
        guard case .messageTooLarge(_, let size, 2_000)? = tooLarge else {
            Issue.record("sendEvent threw \(String(describing: tooLarge)), not messageTooLarge")
            return
        }
        #expect(size > 5_000)
        // Nothing was sent that would have cost the service its connection: it still answers.
        #expect(service.isConnected)
        #expect(try await requester.request(.request(topic: "/tiesim/test/big", payload: "10"), timeout: .seconds(5)).payload.count == 10)
        await requester.disconnect()
        await service.disconnect()
    }

    @Test("a request its service never answers times out with a typed error")
    func requestTimesOut() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let silent = try await fabric.connectedClient()
        try await silent.registerService(ServiceRegistrationInfo(serviceType: "/silent", requestHandlers: ["/nobody/home": { _ in }]))
        let requester = try await fabric.connectedClient()
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: DXLError.self) {
            _ = try await requester.request(.request(topic: "/nobody/home", payload: ""), timeout: .milliseconds(300))
        }
        #expect(clock.now - start < .seconds(3))
        await requester.disconnect()
        await silent.disconnect()
    }

    @Test("an async request's callback gets the response exactly once")
    func asyncRequest() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let service = try await fabric.connectedClient()
        try await service.registerService(ServiceRegistrationInfo(serviceType: "/svc", requestHandlers: ["/svc": { request in
            // Two answers: the first wins, the second is dropped, as in dxlclient.
            try? service.send(.response(to: request, payload: "first"))
            try? service.send(.response(to: request, payload: "second"))
        }]))
        let requester = try await fabric.connectedClient()
        let inbox = EventInbox<String>()
        requester.asyncRequest(.request(topic: "/svc", payload: ""), timeout: .seconds(5)) { result in
            inbox.append((try? result.get().payloadString) ?? "error")
        }
        await inbox.wait(for: 1)
        try await Task.sleep(for: .milliseconds(200))
        #expect(inbox.all == ["first"])
        await requester.disconnect()
        await service.disconnect()
    }

    @Test("a malformed message on a subscribed topic is skipped and the connection stays up")
    func malformedMessageSkipped() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let subscriber = try await fabric.connectedClient()
        let inbox = EventInbox<String>()
        try await subscriber.addEventCallback(topic: "/garbage") { inbox.append($0.payloadString) }
        // A raw MQTT publisher (through the same transport, below the DXL codec) sends non-DXL bytes.
        let raw = try MQTTTransport(clientId: "raw-\(UUID())", tls: fabric.config().tlsFiles, handlers: .init(message: { _, _ in }))
        try await raw.connect(host: "127.0.0.1", port: fabric.broker.port)
        try raw.publish(topic: "/garbage", payload: Array("not msgpack at all".utf8))
        try raw.publish(topic: "/garbage", payload: [0x02, 0x02, 0xda, 0xff])
        try raw.publish(topic: "/garbage", payload: [])
        try raw.publish(topic: "/garbage", payload: DXLMessageCodec.encode(.event(topic: "/garbage", payload: "good")))
        await inbox.wait(for: 1)
        #expect(inbox.all == ["good"])
        #expect(subscriber.isConnected)
        raw.disconnect()
        await subscriber.disconnect()
    }

    @Test("after the broker restarts the client reconnects and its subscriptions work again")
    func reconnectRestoresSubscriptions() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        var config = fabric.config()
        config.reconnectDelay = .seconds(1)
        config.reconnectDelayMax = .seconds(2)
        let subscriber = try DXLClient(config: config)
        try await subscriber.connect()
        let inbox = EventInbox<String>()
        try await subscriber.addEventCallback(topic: "/after/restart") { inbox.append($0.payloadString) }
        try await fabric.broker.restart()
        #expect(await subscriber.waitUntilConnected(timeout: .seconds(15)))
        // Sent until it arrives: the re-subscription follows the reconnect by a round trip.
        let publisher = try await fabric.connectedClient()
        let arrived = await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
            if inbox.all.isEmpty { try? publisher.sendEvent(topic: "/after/restart", payload: Array("back".utf8)) }
            return !inbox.all.isEmpty
        }
        #expect(arrived)
        #expect(inbox.all.first == "back")
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test("an unreachable broker gives a clear error after the configured retries, without hanging")
    func unreachableBroker() async throws {
        let port = LocalBroker.freePort()
        var config = DXLClientConfig(
            brokerCertChain: testCertificates.caCertificate,
            certFile: testCertificates.clientCertificate("client"),
            privateKey: testCertificates.clientKey("client"),
            brokers: [DXLBroker(uniqueId: "gone", host: "127.0.0.1", port: port)]
        )
        config.connectRetries = 2
        config.reconnectDelay = .milliseconds(100)
        let client = try DXLClient(config: config)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await client.connect()
            Issue.record("connected to a port where nothing listens")
        } catch {
            // Refused, not timed out: the client learnt from the connect itself that nobody listens.
            let text = String(describing: error)
            #expect(text.contains("no broker reachable (127.0.0.1:\(port)) after 2 attempt(s); last error: could not connect to 127.0.0.1:\(port):"))
            #expect(!text.contains("in time"))
        }
        // Two refused connects and one 100 ms pause; the bound only tells a hang from a slow, loaded machine.
        #expect(clock.now - start < .seconds(30))
    }

    @Test("a client whose certificate another CA signed is refused by the broker")
    func foreignCertificateRefused() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let foreign = try CertificateAuthority.generate(commonName: "someone else's CA")
        let folder = fabric.directory + "/foreign"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try foreign.issue(commonName: "intruder", role: .client).write(certificate: folder + "/intruder.crt", privateKey: folder + "/intruder.key")
        var config = fabric.config()
        config.certFile = folder + "/intruder.crt"
        config.privateKey = folder + "/intruder.key"
        config.connectTimeout = .seconds(3)
        let client = try DXLClient(config: config)
        await #expect(throws: DXLError.self) { try await client.connect() }
        #expect(!client.isConnected)
        #expect(fabric.broker.logTail(lines: 50).contains("intruder") == false)
    }

    @Test("private keys are written with mode 0600")
    func keyPermissions() throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: testCertificates.clientKey("client"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let caAttributes = try FileManager.default.attributesOfItem(atPath: testCertificates.caKey)
        #expect((caAttributes[.posixPermissions] as? Int) == 0o600)
    }
}
