import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// A requester that floods the fake TIE, and clients that vanish with a request in flight: the fabric
/// sheds the flood instead of queueing it without bound, keeps answering everyone else, and never crashes.
/// (The 20-second, 10,000 requests/s figures are measured by `tiesim-bench flood`; see docs/RELIABILITY.md.)
@Suite("Floods and unclean disconnects", .timeLimit(.minutes(3)))
struct LoadAndDisconnectTests {
    static let yaml = """
    files:
      A.EXE:
        reputations: {GTI: KNOWN_MALICIOUS}
      SLOW.EXE:
      STALLED.EXE:
    faults:
      - {name: slow, request: get_file_reputation, file: SLOW.EXE, delay: 2s}
      - {name: stalled, request: get_file_reputation, file: STALLED.EXE, delay: 60s}
    """

    static func request(_ fabric: SimulatedFabric, _ name: String) throws -> DXLMessage {
        let md5 = try #require(fabric.store.file(named: name)?.md5)
        return .request(topic: TieTopic.getFileReputation, payload: #"{"hashes": [{"type": "md5", "value": "\#(try HashEncoding.base64(hex: md5))"}], "scanType": 3}"#)
    }

    @Test("a requester flooding at up to 10,000 requests/s is shed above its rate, told 'overloaded' at once; another client is still answered, every time")
    func flood() async throws {
        // A low limit, so that the flood is over it even when the test machine is busy with other tests and
        // the flooder cannot reach its full rate.
        try await withFabric(Self.yaml, configure: { $0.requestRateLimitPerClient = 50 }) { fabric in
            let probe = try await fabric.playerClientForTests()
            let flooder = try DXLClient(config: fabric.clientConfig(client: "client2"))
            try await flooder.connect()
            let request = try Self.request(fabric, "A.EXE")
            let answered = EventInbox<Bool>()
            let overloaded = EventInbox<Bool>()
            let flood = Task {
                let clock = ContinuousClock()
                var next = clock.now
                for _ in 0..<30 {  // 3,000 requests, at 10,000/s when the machine allows
                    for _ in 0..<100 {
                        flooder.asyncRequest(.request(topic: request.destinationTopic, payload: request.payload), timeout: .seconds(30)) { result in
                            let reply = try? result.get()
                            answered.append(reply?.type == .response)
                            if reply?.type == .errorResponse, reply?.normalizedErrorCode == DXLErrorCode.serviceOverloaded { overloaded.append(true) }
                        }
                    }
                    next = next + .milliseconds(10)
                    try? await Task.sleep(until: next, clock: clock)
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            var slowest = Duration.zero
            for _ in 0..<20 {
                let started = ContinuousClock.now
                let response = try await probe.request(.request(topic: request.destinationTopic, payload: request.payload), timeout: .seconds(5))
                #expect(response.type == .response)
                slowest = max(slowest, ContinuousClock.now - started)
                try await Task.sleep(for: .milliseconds(50))
            }
            await flood.value
            // On a busy machine the flood may still be on its way (in the flooder's send queue or the broker's).
            await eventually(timeout: .seconds(20)) { fabric.tie.queueStatistics.shed > 0 }
            let statistics = fabric.tie.queueStatistics
            let outcomes = answered.all
            #expect(statistics.shed > 0, "a flood above the rate limit must be shed: \(statistics), flooder answered \(outcomes.filter { $0 }.count), failed \(outcomes.filter { !$0 }.count)")
            #expect(statistics.highWater <= 1_000 + 1, "requests waiting must stay bounded (\(statistics.highWater))")
            #expect(slowest < .seconds(5), "the probe waited \(slowest) under the flood")
            _ = await answered.wait(for: 3_000, timeout: .seconds(30))
            #expect(answered.all.contains(true), "the flooder is still served up to its rate")
            // Nothing silent: every request of the flood was answered, by a reputation or by "overloaded".
            #expect(answered.all.count == 3_000)
            #expect(answered.all.filter { $0 }.count + overloaded.all.count == 3_000, "\(answered.all.filter { $0 }.count) answered, \(overloaded.all.count) overloaded")
            #expect(fabric.journal.all.contains { $0.note == DXLErrorCode.serviceOverloadedMessage })
            await flooder.disconnect()
            await probe.disconnect()
        }
    }

    @Test("a Python client killed with a request in flight: the fake TIE answers into the void, and serves the next client")
    func pythonKilledWithRequestInFlight() async throws {
        try await withFabric(Self.yaml) { fabric in
            let slow = try #require(fabric.store.file(named: "SLOW.EXE")?.md5)
            let peer = try tiePeer(["calls", fabric.clientConfigPath])
            peer.write(#"{"method": "get_file_reputation", "kwargs": {"hashes": {"md5": "\#(slow)"}}}"# + "\n")
            await eventually(timeout: .seconds(20)) { fabric.journal.all.contains { $0.kind == .fault } }
            #expect(fabric.journal.all.contains { $0.kind == .fault }, "the slow request never arrived")
            peer.kill()  // SIGKILL: no DISCONNECT, the request still in flight
            try await Task.sleep(for: .seconds(3))  // the delayed answer goes to a reply topic nobody reads
            let tie = TieClient(try await fabric.playerClientForTests())
            #expect(try await tie.getFileReputation(hashes: [.md5: fabric.store.file(named: "A.EXE")?.md5 ?? ""])[FileProvider.gti]?.trustLevel == 1)
            #expect(fabric.internalClients.filter { !$0.isConnected }.isEmpty)
            let log = try String(contentsOfFile: fabric.broker.logPath, encoding: .utf8)
            #expect(log.contains("closed its connection") || log.contains("disconnected"), "mosquitto saw the client go")
            await tie.dxlClient.disconnect()
        }
    }

    @Test("a Swift client that drops its connection with a request in flight gets notConnected at once; the fabric serves the next")
    func swiftDropsWithRequestInFlight() async throws {
        try await withFabric(Self.yaml) { fabric in
            let client = try await fabric.playerClientForTests()
            // Answered only after 60 s: however slowly a loaded machine runs the disconnect, no answer beats it.
            let request = try Self.request(fabric, "STALLED.EXE")
            let pending = Task { () -> (any Error)? in
                do { _ = try await client.request(request, timeout: .seconds(120)); return nil } catch { return error }
            }
            // In flight: the fake TIE holds it (its fault is journaled as it arrives).
            #expect(await eventually(timeout: .seconds(10)) { fabric.journal.all.contains { $0.kind == .fault } })
            let started = ContinuousClock.now
            let disconnecting = Task { await client.disconnect() }
            let error = await pending.value  // fails as the connection goes, not when the 120 s timeout ends
            #expect(error != nil)
            // Far from the timeout; not tighter, since this suite's flood test loads the machine meanwhile.
            #expect(ContinuousClock.now - started < .seconds(30))
            await disconnecting.value
            let tie = TieClient(try await fabric.playerClientForTests())
            #expect(try await tie.getFileReputation(hashes: [.md5: fabric.store.file(named: "A.EXE")?.md5 ?? ""])[FileProvider.gti]?.trustLevel == 1)
            await tie.dxlClient.disconnect()
        }
    }
}
