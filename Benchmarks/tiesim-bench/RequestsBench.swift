// tiesim-bench requests: the fake TIE against a Python service and the bare-libmosquitto ceiling.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

// MARK: Requests

final class LatencyBox: Sendable {
    let values = Mutex<[Double]>([])
}

struct LatencyResult {
    var throughput: Double
    var p50: Double
    var p99: Double
}

/// Runs `concurrency` requesters for `duration` against `topic`; latencies in milliseconds.
func load(clients: [DXLClient], topic: String, payload: [UInt8], concurrency: Int, duration: Duration, paced: Double? = nil,
          accepting accepted: DXLMessageType = .response) async -> LatencyResult {
    let deadline = clock.now + duration
    let latencies = LatencyBox()
    await withTaskGroup(of: Void.self) { group in
        for worker in 0..<concurrency {
            let client = clients[worker % clients.count]
            group.addTask {
                var local: [Double] = []
                // Paced workers are staggered so that requests are evenly spaced, not sent in bursts.
                let period = Duration.nanoseconds(Int64(1e9 / (paced ?? 1) * Double(concurrency)))
                var next = clock.now + period / concurrency * worker
                while clock.now < deadline {
                    if paced != nil {
                        if next > clock.now { try? await Task.sleep(until: next, clock: clock) }
                        next = next + period
                    }
                    // The response time is taken in the client's callback, on its network thread, so that
                    // it measures the fabric and not when this task is next scheduled.
                    let start = clock.now
                    let (ok, elapsed) = await withCheckedContinuation { (continuation: CheckedContinuation<(Bool, Duration), Never>) in
                        client.asyncRequest(.request(topic: topic, payload: payload), timeout: .seconds(10)) { result in
                            let elapsed = clock.now - start
                            continuation.resume(returning: ((try? result.get().type) == accepted, elapsed))
                        }
                    }
                    if ok { local.append(seconds(elapsed) * 1000) }
                }
                latencies.values.withLock { $0 += local }
            }
        }
    }
    let sorted = latencies.values.withLock { $0 }.sorted()
    guard !sorted.isEmpty else { return LatencyResult(throughput: 0, p50: 0, p99: 0) }
    return LatencyResult(throughput: Double(sorted.count) / seconds(duration), p50: sorted[sorted.count / 2], p99: sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
}

/// The body of a `get_file_reputation` request for the file with `md5` (hex), as dxltieclient writes it.
func reputationRequest(md5: String) throws -> [UInt8] {
    Array(#"{"hashes": [{"type": "md5", "value": "\#(try HashEncoding.base64(hex: md5))"}], "scanType": 3}"#.utf8)
}

/// The fake TIE's own work per request, in-process, as its network thread does it: decode, answer
/// (parse, look up, reply — or the kept reply of a repeated lookup), encode and queue the response,
/// journal the request. No broker round trip. `payloads` ask for distinct files.
func tieWork(_ fabric: SimulatedFabric, payloads: [[UInt8]]) {
    let requests = payloads.map { payload in
        var request = DXLMessage.request(topic: TieTopic.getFileReputation, payload: payload)
        request.replyToTopic = "/bench/nobody/reads/this"
        return DXLMessageCodec.encode(request)
    }
    let passes = max(1, option("--work-requests", 50_000) / requests.count)
    func perRequest(_ body: () -> Void) -> Double {
        let start = clock.now
        body()
        return seconds(clock.now - start) / Double(passes * requests.count) * 1e6
    }
    func serve(_ bytes: [UInt8]) {
        guard let decoded = try? DXLMessageCodec.decode(bytes, topic: TieTopic.getFileReputation) else { return }
        fabric.tie.process(decoded)
    }
    var repeated = Double.infinity, distinct = Double.infinity
    for _ in 0..<3 {
        repeated = min(repeated, perRequest { for _ in 0..<(passes * requests.count) { serve(requests[0]) } })
        distinct = min(distinct, perRequest {
            for _ in 0..<passes {
                fabric.tie.unknownHashBehaviour = fabric.tie.unknownHashBehaviour  // no kept replies: every lookup anew
                for request in requests { serve(request) }
            }
        })
    }
    print("requests: the fake TIE's own work per request, in-process (decode, answer, reply queued, request journaled; best of 3 × "
          + "\(passes * requests.count)): \(format(distinct, digits: 2)) µs for \(requests.count) distinct files in turn, "
          + "\(format(repeated, digits: 2)) µs for a repeated lookup (its kept reply)")
}

func benchRequests() async throws {
    let duration = Duration.seconds(option("--seconds", 5))
    let fileCount = 1000
    var yaml = "settings: {waitForSubscribers: false}\nfiles:\n"
    for index in 0..<fileCount {
        yaml += "  F\(index).EXE:\n    reputations:\n      GTI: KNOWN_TRUSTED\n      ENTERPRISE: {trustLevel: UNKNOWN, attributes: {PREVALENCE: \"\(index)\"}}\n"
    }
    let scenario = try ScenarioLoader.parse(text: yaml, file: "requests.yaml")
    var options = SimulatedFabric.Options(stateDirectory: workFolder + "/requests")
    options.scenarios = [scenario]
    options.clients = ["client", "python"]
    options.requestRateLimitPerClient = 0  // the capacity, not the per-client limit
    let fabric = try await SimulatedFabric.start(options)
    // The same data for the Python service: "md5:<hex>" → reputations list.
    var data: JSONObject = [:]
    for file in scenario.files {
        data["md5:\(file.md5)"] = .array(file.reputations.sorted { $0.providerId < $1.providerId }.map(\.json))
    }
    let dataPath = workFolder + "/requests/data.json"
    try JSONValue.object(data).serialized().write(toFile: dataPath, atomically: true, encoding: .utf8)
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python_tie_service.py").path
    let pythonTopic = "/bench/python/file/reputation"
    let python = try ChildProcess(executable: "/usr/bin/env", arguments: ["python3", script, options.stateDirectory + "/dxlclient-python.config", pythonTopic, dataPath],
                                  outputPath: workFolder + "/python.out", pipeStandardInput: true)
    defer { python.terminate() }
    let readyDeadline = clock.now + .seconds(30)
    while clock.now < readyDeadline, !((try? String(contentsOfFile: workFolder + "/python.out", encoding: .utf8)) ?? "").contains("READY") {
        try await Task.sleep(for: .milliseconds(50))
    }
    var clients: [DXLClient] = []
    for _ in 0..<4 {
        let client = try DXLClient(config: fabric.clientConfig())
        try await client.connect()
        clients.append(client)
    }
    let file = scenario.files[fileCount / 2]
    let payload = try reputationRequest(md5: file.md5)
    // Both answer the same request with the same reputations.
    let a = try await clients[0].request(.request(topic: TieTopic.getFileReputation, payload: payload), timeout: .seconds(10))
    let b = try await clients[0].request(.request(topic: pythonTopic, payload: payload), timeout: .seconds(10))
    let same = (try? JSONValue.parse(a.payload)["reputations"]) == (try? JSONValue.parse(b.payload)["reputations"])
    print("requests: fake TIE and Python service give the same reputations: \(same)")
    tieWork(fabric, payloads: try scenario.files.map { try reputationRequest(md5: $0.md5) })
    // The ceiling: the same load generator against a responder on bare libmosquitto that sends the fake
    // TIE's response bytes without looking anything up. No service can answer faster through this broker.
    let rawTopic = "/bench/raw/file/reputation"
    let rawResponder = RawResponder(certificates: fabric.certificates, port: fabric.broker.port, topic: rawTopic, payload: a.payload)
    defer { rawResponder.close() }
    // Between the two: a DXLClient service answering with the same bytes at once (no lookup), to tell
    // the fake TIE's own work from the client library's.
    let dxlTopic = "/bench/dxl/file/reputation"
    var responderConfig = fabric.clientConfig(client: "tiesim")  // as the fake TIE and the ceiling: not journaled
    responderConfig.stampedBrokerId = fabric.network.guids[0]
    let responder = try DXLClient(config: responderConfig)
    try await responder.connect()
    let cannedReply = a.payload
    try await responder.registerService(ServiceRegistrationInfo(serviceType: "/bench/dxl", requestHandlers: [dxlTopic: { [weak responder] request in
        try? responder?.send(.response(to: request, payload: cannedReply))
    }]))
    // The fake TIE against the ceiling in alternating rounds (the machine drifts: one long measurement of
    // each compares two moments, not two services); Python once, for scale.
    let rounds = option("--rounds", 5)
    let roundLength = Duration.seconds(max(1, option("--round-seconds", 2)))
    let concurrencies = optionList("--concurrency")?.compactMap { Int($0) } ?? [1, 8, 64]
    for concurrency in concurrencies {
        var ties: [LatencyResult] = [], raws: [LatencyResult] = [], dxls: [LatencyResult] = []
        for round in 0..<rounds {
            // The three take turns going first.
            let order = [0, 1, 2].map { ($0 + round) % 3 }
            for side in order {
                switch side {
                case 0: ties.append(await load(clients: clients, topic: TieTopic.getFileReputation, payload: payload, concurrency: concurrency, duration: roundLength))
                case 1: raws.append(await load(clients: clients, topic: rawTopic, payload: payload, concurrency: concurrency, duration: roundLength))
                default: dxls.append(await load(clients: clients, topic: dxlTopic, payload: payload, concurrency: concurrency, duration: roundLength))
                }
            }
        }
        let dxlRatios = zip(dxls, raws).map { 100 * $0.throughput / max($1.throughput, 1) }
        print("requests: \(concurrency) concurrent: a DXLClient service with a canned reply reaches \(format(median(dxlRatios), digits: 1)) % of the ceiling "
              + "(\(format(dxlRatios.min()!, digits: 1))–\(format(dxlRatios.max()!, digits: 1)) %)")
        let py = await load(clients: clients, topic: pythonTopic, payload: payload, concurrency: concurrency, duration: duration)
        let ratios = zip(ties, raws).map { 100 * $0.throughput / max($1.throughput, 1) }
        let tie = ties.sorted { $0.throughput < $1.throughput }[rounds / 2], raw = raws.sorted { $0.throughput < $1.throughput }[rounds / 2]
        print("requests: \(concurrency) concurrent: fake TIE \(format(tie.throughput)) req/s (median of \(rounds); p50 \(format(tie.p50, digits: 2)) ms, p99 \(format(tie.p99, digits: 2)) ms); Python service \(format(py.throughput)) req/s (p50 \(format(py.p50, digits: 2)) ms, p99 \(format(py.p99, digits: 2)) ms); ratio \(format(tie.throughput / max(py.throughput, 1), digits: 1))×")
        print("requests: \(concurrency) concurrent: ceiling, a bare libmosquitto responder: \(format(raw.throughput)) req/s (p50 \(format(raw.p50, digits: 2)) ms, p99 \(format(raw.p99, digits: 2)) ms); the fake TIE reaches \(format(median(ratios), digits: 1)) % of it "
              + "(median of \(rounds) alternating rounds, \(format(ratios.min()!, digits: 1))–\(format(ratios.max()!, digits: 1)) %; goal ≥ 95 %)")
    }
    let paced = await load(clients: clients, topic: TieTopic.getFileReputation, payload: payload, concurrency: 8, duration: duration, paced: 1000)
    print("requests: paced at 1,000 req/s: fake TIE served \(format(paced.throughput)) req/s, p50 \(format(paced.p50, digits: 2)) ms, p99 \(format(paced.p99, digits: 2)) ms (goal p99 < 2 ms)")
    python.standardInput.map { try? $0.close() }
    // Every client leaves before the broker stops (a client still connected then reports a lost connection).
    for client in clients + [responder] { await client.disconnect() }
    await fabric.stop()
}
