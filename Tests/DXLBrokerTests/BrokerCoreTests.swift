import DXLBroker
import DXLWire
import Testing

/// A broker core driven as mosquitto drives it: connections, subscriptions, messages and the
/// per-recipient checks, with a clock the test moves.
final class Harness {
    var now: Int64 = 1_700_000_000_000
    let core: BrokerCore
    var connection: UInt = 1

    init(layout: BrokerLayout = BrokerLayout(brokers: [.init(guid: "{b1}", hostname: "127.0.0.1", port: 8883)]),
         maxMessageSize: Int = BrokerCore.defaultMaxMessageSize) {
        var clock: () -> Int64 = { 0 }
        let box = ClockBox()
        clock = { box.now }
        core = BrokerCore(layout: layout, clock: clock, maxMessageSize: maxMessageSize)
        self.box = box
        box.now = now
    }

    private let box: ClockBox
    final class ClockBox { var now: Int64 = 0 }

    func advance(ms: Int64) {
        box.now += ms
        core.tick()
    }

    func connect(_ id: String, identity: String = "client", subscribe filters: [String] = [], persistent: Bool = false) {
        connection += 1
        core.connected(id, identity: identity, connection: connection, persistent: persistent)
        for filter in ["/mcafee/client/\(id)"] + filters { core.subscribed(id, to: filter) }
        _ = core.takeActions()  // the connect event and log line
    }

    /// Publishes `message` from `client`; returns the verdict and which of `recipients` receive it.
    func publish(_ message: DXLMessage, from client: String, to recipients: [String]) -> (MessageVerdict, [String]) {
        let bytes = DXLMessageCodec.encode(message)
        let verdict = bytes.withUnsafeBytes { core.message(from: client, topic: message.destinationTopic, payload: $0) }
        let delivered: [UInt8]
        switch verdict {
        case .pass: delivered = bytes
        case .replace(let replaced): delivered = replaced
        case .drop: delivered = BrokerCore.droppedMarker
        case .restamp(let range, let clientId, let brokerId):
            delivered = restamped(bytes, range, clientId, brokerId)
        }
        let received = recipients.filter { recipient in
            delivered.withUnsafeBytes { core.mayRead(recipient, topic: message.destinationTopic, payload: $0) }
        }
        return (verdict, received)
    }

    func request(_ topic: String, from client: String, serviceId: String = "", payload: String = "{}") -> DXLMessage {
        var request = DXLMessage.request(topic: topic, payload: payload, serviceId: serviceId)
        request.replyToTopic = "/mcafee/client/\(client)"
        return request
    }

    /// Registers a service on `topics` for `client` through the broker service, as dxlclient does.
    @discardableResult
    func register(_ guid: String, type: String = "/acme", topics: [String], client: String) -> [BrokerAction] {
        let body = JSONValue.object(["serviceGuid": .string(guid), "serviceType": .string(type), "requestChannels": .array(topics.map { .string($0) }),
                                     "ttlMins": .int(60), "metaData": .object([:])])
        _ = publish(request("/mcafee/service/dxl/svcregistry/register", from: client, payload: body.serialized()), from: client, to: [])
        return core.takeActions()
    }

    /// The messages the broker published (decoded), by topic.
    func published(_ actions: [BrokerAction]) -> [(topic: String, client: String?, message: DXLMessage)] {
        actions.compactMap { action in
            guard case .publish(let topic, let payload, let client) = action, let message = try? DXLMessageCodec.decode(payload, topic: topic) else { return nil }
            return (topic, client, message)
        }
    }
}

/// What mosquitto delivers after a `.restamp` verdict.
func restamped(_ bytes: [UInt8], _ range: Range<Int>, _ clientId: [UInt8], _ brokerId: [UInt8]) -> [UInt8] {
    bytes.withUnsafeBytes { buffer in
        [UInt8](unsafeUninitializedCapacity: DXLHeader.restampedCount(buffer, range: range, clientId: clientId, brokerId: brokerId)) { memory, count in
            DXLHeader.writeRestamped(buffer, range: range, clientId: clientId, brokerId: brokerId, into: UnsafeMutableRawPointer(memory.baseAddress!))
            count = memory.count
        }
    }
}

@Suite("DXL broker core: routing, registry, broker services, authorisation")
struct BrokerCoreTests {
    @Test("requests without a service id go round-robin to one service each, stamped with it")
    func roundRobin() {
        let broker = Harness()
        let services = (1...3).map { "svc-\($0)" }
        for (index, client) in services.enumerated() {
            broker.connect(client, subscribe: ["/acme/work"])
            broker.register("{s\(index)}", topics: ["/acme/work"], client: client)
        }
        broker.connect("asker")
        var handled: [String: Int] = [:]
        for _ in 0..<30 {
            let (verdict, received) = broker.publish(broker.request("/acme/work", from: "asker"), from: "asker", to: services + ["asker"])
            #expect(received.count == 1)
            handled[received[0], default: 0] += 1
            guard case .replace(let bytes) = verdict, let stamped = try? DXLMessageCodec.decode(bytes) else {
                Issue.record("the request was not stamped")
                continue
            }
            let index = services.firstIndex(of: received[0])!
            #expect(stamped.serviceId == "{s\(index)}")
            #expect(stamped.clientIds == [received[0]])
            #expect(stamped.brokerIds == ["{b1}"])
            #expect(stamped.sourceBrokerId == "{b1}")
            #expect(stamped.sourceClientId == "asker")
        }
        #expect(handled == ["svc-1": 10, "svc-2": 10, "svc-3": 10])
    }

    @Test("a request naming a service reaches only that service; the most specific channel wins")
    func namedAndWildcard() {
        let broker = Harness()
        broker.connect("a", subscribe: ["/acme/#"])
        broker.connect("b", subscribe: ["/acme/x"])
        broker.register("{wild}", topics: ["/acme/#"], client: "a")
        broker.register("{exact}", topics: ["/acme/x"], client: "b")
        broker.connect("asker")
        #expect(broker.publish(broker.request("/acme/x", from: "asker"), from: "asker", to: ["a", "b"]).1 == ["b"])
        #expect(broker.publish(broker.request("/acme/y", from: "asker"), from: "asker", to: ["a", "b"]).1 == ["a"])
        #expect(broker.publish(broker.request("/acme/x", from: "asker", serviceId: "{wild}"), from: "asker", to: ["a", "b"]).1 == ["a"])
    }

    @Test("a request nobody serves gets ErrorResponse 0x80000001 in int32 form at once, and reaches no one")
    func noService() {
        let broker = Harness()
        broker.connect("asker")
        broker.connect("listener", subscribe: ["#"])
        let request = broker.request("/nobody/serves", from: "asker")
        let (verdict, received) = broker.publish(request, from: "asker", to: ["listener"])
        #expect(verdict == .drop)
        #expect(received.isEmpty)
        let replies = broker.published(broker.core.takeActions()).filter { $0.topic == "/mcafee/client/asker" }
        #expect(replies.count == 1)
        #expect(replies.first?.client == "asker")
        #expect(replies.first?.message.type == .errorResponse)
        #expect(replies.first?.message.errorCode == -2_147_483_647)
        #expect(replies.first?.message.errorMessage == "unable to locate service for request")
        #expect(replies.first?.message.requestMessageId == request.messageId)
    }

    @Test("a service whose client unsubscribed or disconnected: the requester hears at once and the service is gone")
    func deadService() {
        let broker = Harness()
        broker.connect("svc", subscribe: ["/acme/work"])
        broker.register("{s}", topics: ["/acme/work"], client: "svc")
        broker.connect("asker")
        broker.core.unsubscribed("svc", from: "/acme/work")
        // mosquitto does not hand the request to svc (no READ check for it): the next turn of the loop tells.
        let request = broker.request("/acme/work", from: "asker")
        _ = broker.publish(request, from: "asker", to: [])
        broker.advance(ms: 1)
        let replies = broker.published(broker.core.takeActions())
        let error = replies.first { $0.topic == "/mcafee/client/asker" }?.message
        #expect(error?.type == .errorResponse)
        #expect(error?.serviceId == "{s}")
        #expect(replies.contains { $0.topic == "/mcafee/event/dxl/svcregistry/unregister" })
        #expect(broker.core.registry.services["{s}"] == nil)

        broker.connect("svc2", subscribe: ["/acme/work"])
        broker.register("{s2}", topics: ["/acme/work"], client: "svc2")
        broker.core.disconnected("svc2", connection: broker.connection)
        #expect(broker.core.registry.count == 0)
        #expect(broker.published(broker.core.takeActions()).contains { $0.topic == "/mcafee/event/dxl/clientregistry/disconnect" })
    }

    @Test("register, query and unregister answer in the DXL broker's shapes, with the registry events")
    func registryService() throws {
        let broker = Harness()
        broker.connect("svc", subscribe: ["/acme/work"])
        let actions = broker.register("{s}", type: "/acme/type", topics: ["/acme/work"], client: "svc")
        let published = broker.published(actions)
        #expect(published.contains { $0.topic == "/mcafee/client/svc" && $0.message.type == .response })
        let event = try #require(published.first { $0.topic == "/mcafee/event/dxl/svcregistry/register" })
        #expect(try JSONValue.parse(event.message.payload)["serviceGuid"] == .string("{s}"))
        _ = broker.publish(broker.request("/mcafee/service/dxl/svcregistry/query", from: "svc", payload: #"{"serviceType": "/acme/type"}"#), from: "svc", to: [])
        let answer = try #require(broker.published(broker.core.takeActions()).first)
        let entry = try #require(try JSONValue.parse(answer.message.payload)["services"]?["{s}"])
        #expect(entry["requestChannels"] == .array([.string("/acme/work")]))
        #expect(entry["clientGuid"] == .string("svc"))
        #expect(entry["brokerGuid"] == .string("{b1}"))
        #expect(entry["local"] == .bool(true))
        _ = broker.publish(broker.request("/mcafee/service/dxl/svcregistry/unregister", from: "svc", payload: #"{"serviceGuid": "{s}"}"#), from: "svc", to: [])
        #expect(broker.core.registry.count == 0)
    }

    @Test("the registry is bounded: registrations over 64 KiB are refused, TTLs are clamped")
    func registryBounds() throws {
        let broker = Harness()
        broker.connect("svc")
        let huge = JSONValue.object(["serviceGuid": "{big}", "requestChannels": .array((0..<5_000).map { .string("/acme/topic/number/\($0)") })])
        _ = broker.publish(broker.request(ServiceRegistryTopic.register, from: "svc", payload: huge.serialized()), from: "svc", to: [])
        let reply = try #require(broker.published(broker.core.takeActions()).first { $0.topic == "/mcafee/client/svc" })
        #expect(reply.message.type == .errorResponse)
        #expect(broker.core.registry.count == 0)
        let forever = #"{"serviceGuid": "{f}", "requestChannels": ["/a"], "ttlMins": 1e9}"#
        _ = broker.publish(broker.request(ServiceRegistryTopic.register, from: "svc", payload: forever), from: "svc", to: [])
        #expect(broker.core.registry.services["{f}"]?.ttlMinutes == 525_600)
    }

    @Test("a TTL that ran out unregisters the service")
    func ttl() {
        let broker = Harness()
        broker.connect("svc", subscribe: ["/acme/work"])
        broker.register("{s}", topics: ["/acme/work"], client: "svc")
        broker.advance(ms: 59 * 60_000)
        #expect(broker.core.registry.count == 1)
        broker.advance(ms: 2 * 60_000)
        #expect(broker.core.registry.count == 0)
    }

    @Test("broker/subs counts the subscribers of a topic, wildcards included")
    func subs() throws {
        let broker = Harness()
        broker.connect("a", subscribe: ["/x/#"])
        broker.connect("b", subscribe: ["/x/+/z"])
        broker.connect("c", subscribe: ["/y"])
        _ = broker.publish(broker.request("/mcafee/service/dxl/broker/subs", from: "a", payload: #"{"topic": "/x/y/z"}"#), from: "a", to: [])
        let answer = try #require(broker.published(broker.core.takeActions()).first)
        #expect(try JSONValue.parse(answer.message.payload) == .object(["count": .int(2)]))
    }

    @Test("a persistent session's subscriptions come back with its client, as mosquitto restores them; a clean one's do not")
    func persistentSessions() throws {
        let broker = Harness()
        func subscribers(_ topic: String) throws -> JSONValue? {
            _ = broker.publish(broker.request("/mcafee/service/dxl/broker/subs", from: "asker", payload: #"{"topic": "\#(topic)"}"#), from: "asker", to: [])
            return try JSONValue.parse(try #require(broker.published(broker.core.takeActions()).first).message.payload)["count"]
        }
        broker.connect("asker")
        broker.connect("keeper", subscribe: ["/kept/#"], persistent: true)
        broker.connect("cleaner", subscribe: ["/kept/#"])
        #expect(try subscribers("/kept/x") == .int(2))
        broker.core.disconnected("keeper", connection: broker.connection - 1)
        broker.core.disconnected("cleaner", connection: broker.connection)
        _ = broker.core.takeActions()
        #expect(try subscribers("/kept/x") == .int(0))  // away: not a subscriber now
        broker.connect("keeper", persistent: true)
        broker.connect("cleaner", persistent: true)
        #expect(try subscribers("/kept/x") == .int(1))  // only the persistent session had something to resume
        // Taken over by a persistent connection: the session goes on; by a clean one: it ends.
        broker.connect("keeper", persistent: true)
        #expect(try subscribers("/kept/x") == .int(1))
        broker.connect("keeper")
        #expect(try subscribers("/kept/x") == .int(0))
        // A clean connection also ends a session whose client is away.
        broker.connect("away", subscribe: ["/kept/#"], persistent: true)
        broker.core.disconnected("away", connection: broker.connection)
        broker.connect("away")
        broker.core.disconnected("away", connection: broker.connection)
        broker.connect("away", persistent: true)
        #expect(try subscribers("/kept/x") == .int(0))
        #expect(broker.core.clients.awaySessions.isEmpty)
    }

    @Test("events keep every byte but the source ids, which the broker stamps")
    func eventStamp() throws {
        let broker = Harness()
        broker.connect("pub")
        var event = DXLMessage.event(topic: "/e", payload: "hello")
        event.otherFields = [.init("k", "v")]
        let (verdict, _) = broker.publish(event, from: "pub", to: [])
        guard case .restamp(let range, let clientId, let brokerId) = verdict else { Issue.record("not stamped"); return }
        let original = DXLMessageCodec.encode(event)
        let bytes = restamped(original, range, clientId, brokerId)
        var expected = event
        expected.sourceClientId = "pub"
        expected.sourceBrokerId = "{b1}"
        #expect(bytes == DXLMessageCodec.encode(expected))
        // What already carries the broker's stamp is passed on as it is (no copy); a forged stamp is not.
        #expect(broker.publish(expected, from: "pub", to: []).0 == .pass)
        var forged = expected
        forged.sourceClientId = "someone-else"
        guard case .restamp = broker.publish(forged, from: "pub", to: []).0 else { Issue.record("a forged source was kept"); return }
    }

    @Test("every publisher's stamp is checked, tiesim's own clients' too; a right one passes without a copy")
    func stampsChecked() {
        let broker = Harness()
        broker.connect("player", identity: "tiesim")
        var event = DXLMessage.event(topic: "/e", payload: "x")
        event.sourceClientId = "player"
        event.sourceBrokerId = "{b1}"
        #expect(broker.publish(event, from: "player", to: []).0 == .pass)
        for (clientId, brokerId) in [("player", "{elsewhere}"), ("someone", "{b1}"), ("", "")] {
            var forged = event
            forged.sourceClientId = clientId
            forged.sourceBrokerId = brokerId
            let (verdict, _) = broker.publish(forged, from: "player", to: [])
            guard case .restamp(let range, let client, let stamp) = verdict else {
                Issue.record("a stamp of (\(clientId), \(brokerId)) from tiesim's client was kept")
                continue
            }
            #expect(restamped(DXLMessageCodec.encode(forged), range, client, stamp) == DXLMessageCodec.encode(event))
        }
    }

    @Test("the header scan for what clients write agrees with the full msgpack reader on every message and every cut")
    func quickScanAgrees() {
        var messages: [DXLMessage] = [.event(topic: "/e", payload: "x"), .request(topic: "/r", payload: "{}"), DXLMessage.event(topic: "/e", payload: [])]
        var long = DXLMessage.event(topic: "/e", payload: "y")
        long.sourceClientId = String(repeating: "c", count: 40)
        long.sourceBrokerId = "{" + String(repeating: "b", count: 36) + "}"
        messages.append(long)
        var response = DXLMessage.response(to: messages[1], payload: "ok")
        response.messageId = String(repeating: "m", count: 31)
        messages.append(response)
        for message in messages {
            let bytes = DXLMessageCodec.encode(message)
            // Whole, what this codec and dxlclient write (ids of 32 bytes and more as raw16) takes the quick path.
            bytes.withUnsafeBytes { buffer in #expect(DXLHeader.quickScan(buffer) != nil, "\(message.messageId.utf8.count)-byte id: the quick scan gave up") }
            for cut in 0...bytes.count {
                let prefix = Array(bytes[..<cut])
                prefix.withUnsafeBytes { buffer in
                    #expect(DXLHeader.scan(buffer) == DXLHeader.scanWithReader(buffer), "cut at \(cut) of \(bytes.count)")
                }
            }
        }
        // str8 and raw16 ids, as other msgpack writers may send them: the quick path, in agreement.
        let strings: [[UInt8]] = [[0x03, 0x02, 0xd9, 0x01, 0x61, 0xa0, 0xd9, 0x00], [0x03, 0x02, 0xda, 0x00, 0x01, 0x61, 0xda, 0x00, 0x00, 0xa0]]
        for bytes in strings {
            bytes.withUnsafeBytes { buffer in
                #expect(DXLHeader.quickScan(buffer) != nil)
                #expect(DXLHeader.quickScan(buffer) == DXLHeader.scanWithReader(buffer))
            }
        }
        // Encodings the quick scan leaves to the reader: nil and bin source ids, a uint8 version.
        let odd: [[UInt8]] = [[0x03, 0x02, 0xa1, 0x61, 0xc0, 0xa0], [0x03, 0x02, 0xa1, 0x61, 0xc4, 0x01, 0x62, 0xa0], [0xcc, 0x03, 0x02, 0xa1, 0x61, 0xa0, 0xa0]]
        for bytes in odd {
            bytes.withUnsafeBytes { buffer in
                #expect(DXLHeader.scan(buffer) != nil)
                #expect(DXLHeader.scan(buffer) == DXLHeader.scanWithReader(buffer))
            }
        }
    }

    @Test("a message id read where it lies agrees with the header read, on every message, cut and encoding")
    func messageIdInPlace() {
        var response = DXLMessage.response(to: .request(topic: "/r", payload: "{}"), payload: "ok")
        response.messageId = String(repeating: "m", count: 40)
        var accented = DXLMessage.event(topic: "/e", payload: "x")
        accented.messageId = "é-\u{301}"
        var inputs = [response, accented, .request(topic: "/r", payload: "{}")].map { DXLMessageCodec.encode($0) }
        inputs += [
            [0x03, 0x02, 0xc0, 0xa0, 0xa0],  // a nil id: read as empty
            [0x03, 0x02, 0xa1, 0xff, 0xa0, 0xa0],  // not UTF-8: no header
            [0x03, 0x02, 0xd9, 0x01, 0x61, 0xa0, 0xa0],  // str8
            [0xcc, 0x03, 0x02, 0xc4, 0x01, 0x62, 0xa0, 0xa0],  // bin, behind a uint8 version
        ]
        for bytes in inputs {
            for cut in 0...bytes.count {
                Array(bytes[..<cut]).withUnsafeBytes { buffer in
                    // Bytes, not Strings: String == would take canonically equal ids for the same.
                    let inPlace = DXLHeader.messageIdBytes(buffer).map { Array($0) }
                    #expect(inPlace == DXLHeader.read(buffer).map { Array($0.messageId.utf8) }, "\(bytes) cut at \(cut)")
                }
            }
        }
    }

    @Test("while a request is routed, a request whose id is only canonically equal to its id is not taken for it")
    func routedIdComparedByBytes() {
        let broker = Harness()
        broker.connect("svc-a", subscribe: ["/t"])
        broker.connect("svc-b", subscribe: ["/t"])
        broker.connect("req")
        broker.register("{s-a}", topics: ["/t"], client: "svc-a")
        broker.register("{s-b}", topics: ["/t"], client: "svc-b")
        var routed = broker.request("/t", from: "req")
        routed.messageId = "\u{e9}"
        let (_, received) = broker.publish(routed, from: "req", to: ["svc-a", "svc-b"])
        guard received.count == 1, let chosen = received.first else { Issue.record("routed to \(received)"); return }
        let other = chosen == "svc-a" ? "svc-b" : "svc-a"
        // Handed over while that route is pending (as mosquitto hands a retained request to a new
        // subscriber): its own id, "e" + U+0301, and naming the other client. Python tells the two ids apart.
        var named = broker.request("/t", from: "req")
        named.messageId = "e\u{301}"
        named.clientIds = [other]
        DXLMessageCodec.encode(named).withUnsafeBytes { buffer in
            #expect(broker.core.mayRead(other, topic: "/t", payload: buffer), "the client it names did not receive it")
            #expect(!broker.core.mayRead(chosen, topic: "/t", payload: buffer), "taken for the routed request")
        }
    }

    @Test("authorisation: a refused send reaches no one, a refused recipient does not receive")
    func authorization() {
        let rules = TopicAuthorization(send: [.init(topic: "/secure/#", clients: ["setter"])], receive: [.init(topic: "/private", clients: ["reader"])])
        let broker = Harness(layout: BrokerLayout(brokers: [.init(guid: "{b1}", hostname: "h", port: 1)], authorization: rules))
        broker.connect("good", identity: "setter")
        broker.connect("bad", identity: "other")
        broker.connect("listener", identity: "reader", subscribe: ["#"])
        broker.connect("nosy", identity: "other", subscribe: ["#"])
        #expect(broker.publish(.event(topic: "/secure/a", payload: "x"), from: "good", to: ["listener"]).1 == ["listener"])
        let (verdict, received) = broker.publish(.event(topic: "/secure/a", payload: "x"), from: "bad", to: ["listener"])
        #expect(verdict == .drop)
        #expect(received.isEmpty)
        #expect(broker.publish(.event(topic: "/private", payload: "x"), from: "good", to: ["listener", "nosy"]).1 == ["listener"])
        #expect(broker.published(broker.core.takeActions()).filter { $0.topic == BrokerCore.Topic.journal }.count == 2)
    }

    @Test("no client passes for what it is not: a bridge-like id without the bridge certificate, an observer without control")
    func impostors() {
        let rules = TopicAuthorization(send: [.init(topic: "/tiesim/control/#", clients: ["admin"]), .init(topic: "/secure", clients: ["admin"])])
        let broker = Harness(layout: BrokerLayout(brokers: [.init(guid: "{b1}", hostname: "h", port: 1)], authorization: rules))
        broker.connect("tiesim-bridge-2-to-1", identity: "client")  // not the bridges' certificate
        // An ordinary client: its sends are authorised, and it cannot announce services to the broker.
        #expect(broker.publish(.event(topic: "/secure", payload: "x"), from: "tiesim-bridge-2-to-1", to: []).0 == .drop)
        #expect(broker.publish(.event(topic: BrokerCore.Topic.announce, payload: "{}"), from: "tiesim-bridge-2-to-1", to: []).0 == .drop)
        broker.connect("svc", subscribe: ["/acme/work"])
        broker.register("{s}", topics: ["/acme/work"], client: "svc")
        broker.connect("tiesim-recorder-x", identity: "client", subscribe: ["#"])
        broker.connect("tiesim-recorder-y", identity: "admin", subscribe: ["#"])
        broker.connect("asker")
        let received = broker.publish(broker.request("/acme/work", from: "asker"), from: "asker", to: ["svc", "tiesim-recorder-x", "tiesim-recorder-y"]).1
        #expect(received == ["svc", "tiesim-recorder-y"])
    }

    @Test("a bridge taking its id back from an ordinary client: the client's entry and services go")
    func bridgeTakesIdBack() {
        let broker = Harness()
        broker.connect("tiesim-bridge-2-to-1", identity: "client", subscribe: ["/acme/work"])
        let impostorConnection = broker.connection
        broker.register("{s}", topics: ["/acme/work"], client: "tiesim-bridge-2-to-1")
        #expect(broker.core.registry.services["{s}"] != nil)
        broker.connection += 1
        broker.core.connected("tiesim-bridge-2-to-1", identity: BrokerLayout.bridgeIdentity, connection: broker.connection)
        #expect(!broker.core.clients.isConnected("tiesim-bridge-2-to-1"))
        #expect(broker.core.registry.services["{s}"] == nil)
        let events = broker.published(broker.core.takeActions()).map(\.topic)
        #expect(events.contains(BrokerServiceTopic.disconnectEvent))
        // mosquitto then closes the ordinary client's connection: nothing more happens, the bridge stays one.
        broker.core.disconnected("tiesim-bridge-2-to-1", connection: impostorConnection)
        #expect(broker.published(broker.core.takeActions()).isEmpty)
        broker.connect("asker")
        #expect(broker.publish(broker.request("/acme/work", from: "asker"), from: "asker", to: []).0 == .drop, "no service left to route to")
        // A persistent impostor's session (here, away when the bridge comes) goes too: a later ordinary
        // client with that id and no clean session does not get its subscriptions.
        broker.connect("tiesim-bridge-3-to-1", identity: "client", subscribe: ["/kept"], persistent: true)
        broker.core.disconnected("tiesim-bridge-3-to-1", connection: broker.connection)
        #expect(broker.core.clients.awaySessions["tiesim-bridge-3-to-1"] != nil)
        broker.connection += 1
        broker.core.connected("tiesim-bridge-3-to-1", identity: BrokerLayout.bridgeIdentity, connection: broker.connection)
        #expect(broker.core.clients.awaySessions["tiesim-bridge-3-to-1"] == nil)
    }

    @Test("hostile requests cannot make the broker publish what the next broker refuses: oversized, wildcard reply-to")
    func nothingUnpublishable() {
        let broker = Harness(maxMessageSize: 1_000)
        broker.connect("asker")
        var wildcard = broker.request("/nobody", from: "asker")
        wildcard.replyToTopic = "/mcafee/client/#"
        _ = broker.publish(wildcard, from: "asker", to: [])
        #expect(broker.published(broker.core.takeActions()).isEmpty, "a reply on a wildcard topic")
        let big = DXLMessage.request(topic: "/t", payload: Array(repeating: 0x41, count: 2_000))
        #expect(broker.publish(broker.request("/t", from: "asker", payload: String(decoding: big.payload, as: UTF8.self)), from: "asker", to: []).0 == .drop)
        let replies = broker.published(broker.core.takeActions()).filter { $0.topic == "/mcafee/client/asker" }.map(\.message)
        #expect(replies.first?.type == .errorResponse)
        #expect(replies.first?.errorMessage?.contains("over the fabric's 1000-byte limit") == true)
    }

    @Test("a subscribers query waits until someone subscribes")
    func heldQuery() throws {
        let broker = Harness()
        broker.connect("tiesim-player", identity: "tiesim")
        _ = broker.publish(broker.request(BrokerCore.Topic.subscribers, from: "tiesim-player", payload: #"{"topic": "/e/x", "ignoreIdentities": ["tiesim"], "waitMs": 5000}"#),
                           from: "tiesim-player", to: [])
        #expect(broker.published(broker.core.takeActions()).isEmpty)
        broker.core.connected("listener", identity: "client", connection: 99)
        broker.core.subscribed("listener", to: "/e/#")
        let answer = try #require(broker.published(broker.core.takeActions()).first { $0.topic == "/mcafee/client/tiesim-player" })
        #expect(try JSONValue.parse(answer.message.payload.dropLast().map { $0 })["subscribers"]?[0]?["clientId"] == .string("listener"))
    }
}

@Suite("DXL broker core: fabrics of several brokers")
struct FabricRoutingTests {
    /// A chain 1 ← 2 ← 3: broker k bridges to broker k−1.
    static func chain(_ index: Int) -> BrokerLayout {
        BrokerLayout(brokers: [.init(guid: "{b1}", hostname: "h", port: 1), .init(guid: "{b2}", hostname: "h", port: 2, parent: 0),
                               .init(guid: "{b3}", hostname: "h", port: 3, parent: 1)], index: index)
    }

    @Test("the bridge tree: which bridge leads to which broker")
    func subtree() {
        let layout = Self.chain(1)
        #expect(layout.isInSubtree(2, of: 2))
        #expect(layout.isInSubtree(2, of: 1))
        #expect(!layout.isInSubtree(0, of: 1))
        #expect(layout.bridgedBroker("tiesim-bridge-3-to-2") == 2)
        #expect(layout.bridgedBroker("tiesim-bridge-2-to-1.local") == nil)
        #expect(layout.isBridge("tiesim-bridge-2-to-1.local"))
    }

    @Test("a service announced by broker 3 is routed to from broker 1, through the bridge towards it only")
    func announceAndRoute() throws {
        let b3 = Harness(layout: Self.chain(2))
        b3.connect("svc", subscribe: ["/acme/work"])
        b3.register("{s}", topics: ["/acme/work"], client: "svc")
        b3.advance(ms: 1)
        let announcement = try #require(b3.core.takeActions().compactMap { action -> [UInt8]? in
            if case .publish(BrokerCore.Topic.announce, let payload, nil) = action { return payload } else { return nil }
        }.first)
        // Broker 2 hears it over the bridge from broker 3 and routes a request from its client there.
        let b2 = Harness(layout: Self.chain(1))
        _ = announcement.withUnsafeBytes { b2.core.message(from: "tiesim-bridge-3-to-2", topic: BrokerCore.Topic.announce, payload: $0) }
        #expect(b2.core.registry.services["{s}"]?.brokerGuid == "{b3}")
        b2.connect("asker")
        b2.connect("bystander", subscribe: ["/acme/work"])
        let (verdict, received) = b2.publish(b2.request("/acme/work", from: "asker"), from: "asker", to: ["bystander", "tiesim-bridge-3-to-2"])
        #expect(received == ["tiesim-bridge-3-to-2"])
        guard case .replace(let bytes) = verdict else { Issue.record("not stamped"); return }
        // Broker 3 receives the stamped request over the bridge and hands it to its service's client only.
        let routed = try DXLMessageCodec.decode(bytes, topic: "/acme/work")
        let delivered = bytes.withUnsafeBytes { buffer -> [String] in
            _ = b3.core.message(from: "tiesim-bridge-3-to-2.local", topic: "/acme/work", payload: buffer)
            return ["svc", "other"].filter { b3.core.mayRead($0, topic: "/acme/work", payload: buffer) }
        }
        #expect(routed.serviceId == "{s}")
        #expect(delivered == ["svc"])
    }
}
