import CMosquittoBroker
import DXLBroker
import DXLBrokerFastPath
import DXLWire
import Glibc
import Synchronization
import Testing

// mosquitto's own functions that the fast path calls, for this test binary (inside mosquitto, the
// plugin gets mosquitto's): client ids by the fake client pointers below, and its allocator.
/// C strings (their addresses, never freed) by client address.
private let clientIds = Mutex<[UInt: UInt]>([:])

@_cdecl("mosquitto_client_id")
func testClientId(_ client: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let client else { return nil }
    let address = clientIds.withLock { $0[UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(client)))] }
    return address.flatMap { UnsafePointer(bitPattern: $0) }
}

@_cdecl("mosquitto_malloc")
func testMalloc(_ size: Int) -> UnsafeMutableRawPointer? { malloc(size) }

/// The fast path's decisions, called as mosquitto calls them, against what the core decides. They share
/// the fast path's one state, so they run one at a time.
@Suite("DXL broker fast path: its decisions against the core's", .serialized)
struct FastPathDecisionTests {
    static let publisherId = "{" + String(repeating: "7", count: 36) + "}"
    nonisolated(unsafe) static let publisher = client(0x1000, publisherId)
    nonisolated(unsafe) static let other = client(0x2000, "{" + String(repeating: "8", count: 36) + "}")
    nonisolated(unsafe) static let recipient = client(0x3000, "recipient")
    nonisolated(unsafe) static let bridge = client(0x4000, "tiesim-bridge-2-to-1")

    static func client(_ address: UInt, _ id: String) -> OpaquePointer {
        let name = UInt(bitPattern: strdup(id))
        clientIds.withLock { $0[address] = name }
        return OpaquePointer(bitPattern: address)!
    }

    /// The fast path on, for a core that knows the publisher; the publisher cached with its stamp on `topic`.
    static func started(maxMessageSize: Int = 1 << 20, topic: String = "/acme/e") throws -> Harness {
        let broker = Harness()
        broker.connect(publisherId)
        #expect(tiesim_fast_start("tiesim-bridge-", maxMessageSize) == 1)
        tiesim_fast_set_conditions(0, 0, 0, 0, 0)
        let stamp = try #require(broker.core.shortcutStamp(for: publisherId))
        stamp.withUnsafeBufferPointer { tiesim_fast_set_publisher(UnsafeRawPointer(publisher), $0.baseAddress, $0.count, topic) }
        return broker
    }

    /// `bytes` published by `client` on `topic` through the fast path: whether it took the message, and
    /// the payload mosquitto then holds.
    static func publish(_ bytes: [UInt8], on topic: String = "/acme/e", from client: OpaquePointer = publisher) -> (taken: Bool, delivered: [UInt8], copied: Bool) {
        let original = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { original.deallocate() }
        bytes.withUnsafeBytes { if let base = $0.baseAddress { original.copyMemory(from: base, byteCount: $0.count) } }
        let name = strdup(topic)
        defer { free(name) }
        var event = mosquitto_evt_message()
        event.client = client
        event.topic = name
        event.payload = original
        event.payloadlen = UInt32(bytes.count)
        let taken = tiesim_fast_message(&event) == 1
        let delivered = Array(UnsafeRawBufferPointer(start: event.payload, count: Int(event.payloadlen)))
        let copied = event.payload != original
        if copied { free(event.payload) }
        return (taken, delivered, copied)
    }

    /// A check of `access` for `client` on `bytes` published on `topic`: whether the fast path allowed it.
    static func check(_ access: Int32, _ bytes: [UInt8], on topic: String = "/acme/e", for client: OpaquePointer = recipient) -> Bool {
        bytes.withUnsafeBytes { payload in
            topic.withCString { name in
                var event = mosquitto_evt_acl_check()
                event.client = client
                event.topic = name
                event.payload = payload.baseAddress
                event.payloadlen = UInt32(payload.count)
                event.access = access
                return tiesim_fast_access(&event) == 1
            }
        }
    }

    static func counts() -> (incoming: UInt64, outgoing: UInt64) {
        var incoming: UInt64 = 0, outgoing: UInt64 = 0
        tiesim_fast_take_counts(&incoming, &outgoing)
        return (incoming, outgoing)
    }

    static let event = DXLMessageCodec.encode(.event(topic: "/acme/e", payload: "x"))

    @Test("events and responses from the cached publisher are stamped as the core stamps them; everything else is left to the core")
    func messages() throws {
        let broker = try Self.started(maxMessageSize: 4096)
        defer { tiesim_fast_stop() }
        #expect(tiesim_fast_holds(UnsafeRawPointer(Self.publisher), "/acme/e") == 1)
        #expect(tiesim_fast_holds(UnsafeRawPointer(Self.publisher), "/acme/other") == 0)
        #expect(tiesim_fast_holds(UnsafeRawPointer(Self.other), "/acme/e") == 0)
        let response = DXLMessageCodec.encode(.response(to: .request(topic: "/r", payload: "{}"), payload: "ok"))
        for bytes in [Self.event, response] {
            let core = bytes.withUnsafeBytes { broker.core.message(from: Self.publisherId, topic: "/acme/e", payload: $0) }
            guard case .restamp(let range, let clientId, let brokerId) = core else { Issue.record("the core: \(core)"); continue }
            let fast = Self.publish(bytes)
            #expect(fast.taken && fast.copied && fast.delivered == restamped(bytes, range, clientId, brokerId))
            // Stamped already: passed on as it is, not copied.
            let again = Self.publish(fast.delivered)
            #expect(again.taken && !again.copied && again.delivered == fast.delivered)
        }
        #expect(Self.counts() == (4, 0))
        // The core's: requests, error responses, what is not DXL (or not as clients encode it), another
        // client, the broker's notes, a message over the limit.
        var errorResponse = DXLMessage.errorResponse(to: .request(topic: "/r", payload: "{}"), code: 1, message: "no")
        errorResponse.destinationTopic = "/acme/e"
        let left: [(String, Bool)] = [
            ("request", Self.publish(DXLMessageCodec.encode(.request(topic: "/acme/e", payload: "{}"))).taken),
            ("error response", Self.publish(DXLMessageCodec.encode(errorResponse)).taken),
            ("not DXL", Self.publish(Array("hello".utf8)).taken),
            ("str32 id", Self.publish([0x03, 0x02, 0xdb, 0, 0, 0, 1, 0x61, 0xa0, 0xa0]).taken),
            ("another client", Self.publish(Self.event, from: Self.other).taken),
            ("a notes topic", Self.publish(Self.event, on: BrokerCore.Topic.journal).taken),
            ("over the limit", Self.publish(Self.event + Array(repeating: 0x20, count: 4096)).taken),
        ]
        #expect(left.filter(\.1).map(\.0) == [])
        #expect(Self.counts() == (0, 0))
        // A pending route: everything to the core until it is finished.
        tiesim_fast_set_conditions(1, 0, 0, 0, 0)
        #expect(!Self.publish(Self.event).taken)
        // Rules on sending: only the topic the core allowed this publisher.
        tiesim_fast_set_conditions(0, 1, 0, 0, 0)
        #expect(Self.publish(Self.event, on: "/acme/e").taken)
        #expect(!Self.publish(Self.event, on: "/acme/secret").taken)
        // The publisher gone: its address is someone else's next.
        tiesim_fast_forget_publisher(UnsafeRawPointer(Self.publisher))
        #expect(!Self.publish(Self.event).taken)
    }

    @Test("an event's recipients are allowed and counted as the core would; bridges, requests, markers, notes and rules are left to it")
    func recipients() throws {
        let broker = try Self.started()
        defer { tiesim_fast_stop() }
        broker.connect("recipient")
        #expect(Self.event.withUnsafeBytes { broker.core.mayRead("recipient", topic: "/acme/e", payload: $0) })
        #expect(Self.check(MOSQ_ACL_READ, Self.event))
        #expect(Self.check(MOSQ_ACL_READ, Array("not DXL".utf8)))  // the core allows and counts it too
        #expect(Self.check(MOSQ_ACL_WRITE, Self.event))  // decided with the message
        #expect(Self.counts() == (0, 2))
        let left: [(String, Bool)] = [
            ("a subscription", Self.check(MOSQ_ACL_SUBSCRIBE, [])),
            ("a bridge", Self.check(MOSQ_ACL_READ, Self.event, for: Self.bridge)),
            ("a request", Self.check(MOSQ_ACL_READ, DXLMessageCodec.encode(.request(topic: "/acme/e", payload: "{}")))),
            ("the dropped marker", Self.check(MOSQ_ACL_READ, BrokerCore.droppedMarker)),
            ("a notes topic", Self.check(MOSQ_ACL_READ, Self.event, on: BrokerCore.Topic.announce)),
        ]
        #expect(left.filter(\.1).map(\.0) == [])
        for (index, conditions) in [(1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)].enumerated() {
            tiesim_fast_set_conditions(Int32(conditions.0), Int32(conditions.1), Int32(conditions.2), Int32(conditions.3), 0)
            #expect(!Self.check(MOSQ_ACL_READ, Self.event), "conditions \(index)")
        }
        #expect(Self.counts() == (0, 0))
        tiesim_fast_stop()
        #expect(!Self.check(MOSQ_ACL_WRITE, Self.event))
    }

    @Test("mosquitto's ticks reach the core once per millisecond of its clock, and every one while a route is pending or an announcement due")
    func ticks() {
        #expect(tiesim_fast_start("tiesim-bridge-", 1 << 20) == 1)
        defer { tiesim_fast_stop() }
        for (routePending, tickDue) in [(Int32(1), Int32(0)), (0, 1)] {
            tiesim_fast_set_conditions(routePending, 0, 0, 0, tickDue)
            #expect((0..<1_000).allSatisfy { _ in tiesim_fast_tick() == 1 })
        }
        tiesim_fast_set_conditions(0, 0, 0, 0, 0)
        // A thousand turns of the loop take far less than a millisecond: most are left out.
        #expect((0..<1_000).filter { _ in tiesim_fast_tick() == 1 }.count < 100)
        #expect(tiesim_fast_start(String(repeating: "b", count: 64), 1 << 20) == 0)  // a prefix too long: off
        #expect(tiesim_fast_tick() == 1)
    }
}
