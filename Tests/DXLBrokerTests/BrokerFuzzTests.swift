import DXLBroker
import DXLWire
import Testing

/// Hostile bytes through the broker's checks: every mutation of valid messages is passed on, refused or
/// stamped — never a trap, which inside mosquitto would take the broker down.
@Suite("DXL broker core: malformed messages")
struct BrokerFuzzTests {
    @Test("20,000 seeded mutations of requests, events and registrations: no trap, and routing still works afterwards")
    func mutations() throws {
        let broker = Harness()
        broker.connect("svc", subscribe: ["/acme/#", "#"])
        broker.register("{s}", topics: ["/acme/work"], client: "svc")
        broker.connect("asker")
        var register = DXLMessage.request(topic: ServiceRegistryTopic.register, payload: #"{"serviceGuid": "{x}", "requestChannels": ["/a"], "ttlMins": 1e300}"#)
        register.replyToTopic = "/mcafee/client/asker"
        var error = DXLMessage.errorResponse(to: broker.request("/acme/work", from: "asker"), code: -2_147_483_647, message: "x")
        error.serviceId = "{s}"
        let seeds = [
            DXLMessageCodec.encode(broker.request("/acme/work", from: "asker")),
            DXLMessageCodec.encode(.event(topic: "/acme/event", payload: "hello")),
            DXLMessageCodec.encode(register),
            DXLMessageCodec.encode(error),
            DXLMessageCodec.encode(broker.request(BrokerCore.Topic.subscribers, from: "asker", payload: #"{"topic": "/x", "waitMs": -5}"#)),
        ]
        let topics = ["/acme/work", "/acme/event", ServiceRegistryTopic.register, ServiceRegistryTopic.query, BrokerServiceTopic.subs, BrokerCore.Topic.fabric,
                      BrokerCore.Topic.announce, "/mcafee/client/asker", BrokerServiceTopic.clientQuery]
        var random = SplitMix64(seed: 42)
        for round in 0..<20_000 {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(random.next() % 4)) {
                guard !bytes.isEmpty else { break }
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.removeSubrange(position...)
                case 2: bytes.insert(contentsOf: [0xdd, 0xff, 0xff, 0xff, 0xff], at: position)
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                }
            }
            let topic = topics[round % topics.count]
            let from = round % 7 == 0 ? "tiesim-bridge-2-to-1" : "asker"
            _ = bytes.withUnsafeBytes { broker.core.message(from: from, topic: topic, payload: $0) }
            _ = bytes.withUnsafeBytes { broker.core.mayRead("svc", topic: topic, payload: $0) }
            if round % 100 == 0 { broker.advance(ms: 10) }
            _ = broker.core.takeActions()
        }
        broker.connect("svc2", subscribe: ["/acme/work"])
        broker.register("{s2}", topics: ["/acme/work"], client: "svc2")
        let received = (0..<4).flatMap { _ in broker.publish(broker.request("/acme/work", from: "asker"), from: "asker", to: ["svc", "svc2"]).1 }
        #expect(received.count == 4)
    }
}
