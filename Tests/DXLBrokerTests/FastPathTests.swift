import DXLBroker
import DXLBrokerFastPath
import DXLWire
import Testing

/// The plugin's C fast path decides a message only where the core would decide it the same way: its header
/// scan is the core's quick scan, its stamp the core's, byte for byte, and the core says when it must stay
/// out of the way.
@Suite("DXL broker fast path: the C scan and stamp against the core")
struct FastPathTests {
    /// Messages as clients and brokers encode them (ids of every length class of msgpack strings), and bytes
    /// that are not DXL or are encoded otherwise.
    static func inputs() -> [[UInt8]] {
        var messages: [DXLMessage] = []
        for length in [0, 1, 31, 32, 38, 255, 256, 300] {
            var event = DXLMessage.event(topic: "/e", payload: "x")
            event.messageId = String(repeating: "m", count: length)
            event.sourceClientId = String(repeating: "c", count: max(0, 38 - length))
            messages.append(event)
            var response = DXLMessage.response(to: .request(topic: "/r", payload: "{}"), payload: "ok")
            response.sourceBrokerId = String(repeating: "b", count: length)
            messages.append(response)
        }
        messages.append(.request(topic: "/r", payload: "{}"))
        messages.append(.errorResponse(to: .request(topic: "/r", payload: "{}"), code: 1, message: "no"))
        var inputs = messages.map { DXLMessageCodec.encode($0) }
        inputs += [
            [0x03, 0x02, 0xc0, 0xa0, 0xa0],                    // a nil id
            [0x03, 0x02, 0xd9, 0x01, 0x61, 0xa0, 0xa0],        // str8 id
            [0x03, 0x02, 0xdb, 0, 0, 0, 1, 0x61, 0xa0, 0xa0],  // str32 id: left to the full reader
            [0x03, 0x02, 0xc4, 0x01, 0x62, 0xa0, 0xa0],        // bin id
            [0xcc, 0x03, 0x02, 0xa1, 0x62, 0xa0, 0xa0],        // uint8 version
            [0x03, 0x04, 0xa1, 0x62, 0xa0, 0xa0],              // no such type
            [0x03, 0x02, 0xda, 0xff, 0xff, 0x61, 0xa0, 0xa0],  // raw16 longer than the message
            Array("hello, not DXL".utf8),
        ]
        return inputs
    }

    @Test("the C scan finds what the core's quick scan finds, or nothing where it does, for every input and every cut")
    func scanMatchesCore() {
        for bytes in Self.inputs() {
            for cut in 0...bytes.count {
                Array(bytes[..<cut]).withUnsafeBytes { buffer in
                    let swift = DXLHeader.quickScan(buffer)
                    var start = 0, end = 0
                    let type = buffer.baseAddress.map { tiesim_fast_scan($0.assumingMemoryBound(to: UInt8.self), buffer.count, &start, &end) } ?? -1
                    if let swift {
                        #expect(Int(type) == Int(swift.type.rawValue) && start..<end == swift.sourceIdsRange, "\(bytes) cut at \(cut)")
                    } else {
                        #expect(type == -1, "\(bytes) cut at \(cut)")
                    }
                }
            }
        }
    }

    @Test("20,000 seeded mutations: the C scan and the core's quick scan agree on every one")
    func scanMatchesCoreOnMutations() {
        let seeds = Self.inputs()
        var random = SplitMix64(seed: 7)
        for _ in 0..<20_000 {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(random.next() % 3)) where !bytes.isEmpty {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.removeSubrange(position...)
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                }
            }
            bytes.withUnsafeBytes { buffer in
                let swift = DXLHeader.quickScan(buffer)
                var start = 0, end = 0
                let type = buffer.baseAddress.map { tiesim_fast_scan($0.assumingMemoryBound(to: UInt8.self), buffer.count, &start, &end) } ?? -1
                #expect(swift.map { (Int32($0.type.rawValue), $0.sourceIdsRange) } ?? (-1, 0..<0) == (type, type == -1 ? 0..<0 : start..<end), "\(bytes)")
            }
        }
    }

    @Test("an event stamped by the C path is the core's stamped event, byte for byte; one stamped already matches the stamp")
    func stampMatchesCore() throws {
        let broker = Harness()
        let publisher = "{" + String(repeating: "7", count: 36) + "}"
        broker.connect(publisher)
        let stamp = try #require(broker.core.shortcutStamp(for: publisher))
        var compared = 0
        for bytes in Self.inputs() {
            let verdict = bytes.withUnsafeBytes { broker.core.message(from: publisher, topic: "/e", payload: $0) }
            guard case .restamp(let range, let clientId, let brokerId) = verdict else { continue }
            #expect(clientId + brokerId == stamp)
            let expected = restamped(bytes, range, clientId, brokerId)
            var stamped = [UInt8](repeating: 0, count: bytes.count - range.count + stamp.count)
            stamped.withUnsafeMutableBytes { out in
                bytes.withUnsafeBytes { input in
                    stamp.withUnsafeBytes { stampBytes in
                        tiesim_fast_write_stamped(input.baseAddress!.assumingMemoryBound(to: UInt8.self), input.count, range.lowerBound, range.upperBound,
                                                  stampBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), stampBytes.count,
                                                  out.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            #expect(stamped == expected, "\(bytes)")
            compared += 1
            // Through the core again, the stamped event passes as it is: the C path's check (the ids are the stamp) agrees.
            #expect(stamped.withUnsafeBytes { broker.core.message(from: publisher, topic: "/e", payload: $0) } == .pass)
            #expect(Array(stamped[range.lowerBound..<(range.lowerBound + stamp.count)]) == stamp)
        }
        #expect(compared >= 16, "every event and response of the inputs is stamped")
        #expect(broker.core.shortcutStamp(for: "tiesim-bridge-1-to-2") == nil)
    }

    @Test("the core says when the fast path must leave messages to it: a pending route, rules, impostors, an announcement due")
    func conditions() {
        let broker = Harness()
        broker.connect("svc", subscribe: ["/t"])
        broker.connect("asker")
        broker.register("{s}", topics: ["/t"], client: "svc")
        // Subscriptions and registrations are announced on the next tick.
        let before = broker.core.shortcutConditions
        #expect(before.tickDue && !before.routePending && !before.sendRules && !before.receiveRules && !before.impostors)
        broker.advance(ms: 1)
        let after = broker.core.shortcutConditions
        #expect(!after.tickDue && !after.routePending && !after.sendRules && !after.receiveRules && !after.impostors)
        let (_, received) = broker.publish(broker.request("/t", from: "asker"), from: "asker", to: ["svc"])
        #expect(received == ["svc"])
        #expect(broker.core.shortcutConditions.routePending)
        broker.advance(ms: 1)
        #expect(!broker.core.shortcutConditions.routePending)
        broker.connect("tiesim-bridge-9-to-1", identity: "someone")
        #expect(broker.core.shortcutConditions.impostors)

        var layout = BrokerLayout(brokers: [.init(guid: "{b1}", hostname: "127.0.0.1", port: 8883)])
        layout.authorization = TopicAuthorization(send: [.init(topic: "/secret/#", clients: ["admin"])], receive: [])
        let guarded = Harness(layout: layout)
        #expect(guarded.core.shortcutConditions.sendRules && !guarded.core.shortcutConditions.receiveRules)
        guarded.connect("outsider", identity: "client")
        guarded.connect("admin-client", identity: "admin")
        // What the core's own check on sending decides, topic by topic: the shortcut may take only those.
        #expect(guarded.core.shortcutMaySend("outsider", topic: "/open"))
        #expect(!guarded.core.shortcutMaySend("outsider", topic: "/secret/x"))
        #expect(guarded.core.shortcutMaySend("admin-client", topic: "/secret/x"))
        #expect(!guarded.core.shortcutMaySend("admin-client", topic: BrokerCore.Topic.journal))
        #expect(!guarded.core.shortcutMaySend("tiesim-bridge-2-to-1", topic: "/open"))  // a bridge: always the core
        let refused = guarded.publish(.event(topic: "/secret/x", payload: "x"), from: "outsider", to: ["admin-client"])
        #expect(refused.0 == .drop)
    }
}
