// tiesim-bench flood: a flooding client against a probe's latency, and memory.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

// MARK: Flood

/// The resident set of process `pid` now (not its peak), in MB.
func residentMegabytes(pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kilobytes / 1024
}

/// A requester floods the fake TIE at `--rate` requests/s for `--seconds` while a probe client sends 100
/// paced requests/s; the probe's latency idle and under the flood (goal: within 5×), what the fake TIE
/// shed, and the memory of tiesim and mosquitto over the run (goal: bounded).
func benchFlood() async throws {
    let rate = option("--rate", 10_000), floodSeconds = option("--seconds", 30)
    let scenario = try ScenarioLoader.parse(text: "settings: {waitForSubscribers: false}\nfiles:\n  F.EXE:\n    reputations: {GTI: KNOWN_TRUSTED}\n", file: "flood.yaml")
    var options = SimulatedFabric.Options(stateDirectory: workFolder + "/flood")
    options.scenarios = [scenario]
    options.clients = ["client", "flooder"]
    options.requestRateLimitPerClient = Double(option("--limit", 2_000))
    let fabric = try await SimulatedFabric.start(options)
    let probe = try DXLClient(config: fabric.clientConfig())
    try await probe.connect()
    let payload = try reputationRequest(md5: scenario.files[0].md5)
    let mosquitto = fabric.broker.processIdentifier ?? 0
    let ownPid = getpid()
    print("flood: \(format(Double(rate))) requests/s for \(floodSeconds) s from one requester; a probe sends 100 paced requests/s; fake TIE rate limit per client: \(options.requestRateLimitPerClient > 0 ? format(options.requestRateLimitPerClient) + "/s" : "none")")
    let idle = await load(clients: [probe], topic: TieTopic.getFileReputation, payload: payload, concurrency: 1, duration: .seconds(5), paced: 100)
    let startRSS = (residentMegabytes(pid: ownPid), residentMegabytes(pid: mosquitto))

    // The flooder is a process of its own, as a foreign application would be.
    let memory = Mutex<(tiesim: Double, mosquitto: Double)>((0, 0))
    let flooderOutput = workFolder + "/flooder.out"
    let flooderProcess = try ChildProcess(executable: CommandLine.arguments[0],
                                          arguments: ["flood-client", "--rate", String(rate), "--seconds", String(floodSeconds), "--config", options.stateDirectory + "/dxlclient-flooder.config", "--md5", scenario.files[0].md5]
                                            + (arguments.contains("--vary-reply-to") ? ["--vary-reply-to"] : []),
                                          outputPath: flooderOutput)
    let floodTask = Task.detached {
        while flooderProcess.isRunning {
            let now = (residentMegabytes(pid: ownPid), residentMegabytes(pid: mosquitto))
            memory.withLock { $0 = (max($0.tiesim, now.0), max($0.mosquitto, now.1)) }
            try? await Task.sleep(for: .seconds(1))
        }
    }
    try await Task.sleep(for: .seconds(1))  // the flood is under way
    let flooded = await load(clients: [probe], topic: TieTopic.getFileReputation, payload: payload, concurrency: 1, duration: .seconds(max(1, floodSeconds - 2)), paced: 100)
    await floodTask.value
    let endRSS = (residentMegabytes(pid: ownPid), residentMegabytes(pid: mosquitto))
    let peak = memory.withLock { $0 }
    let stats = fabric.tie.queueStatistics
    let flooderReport = ((try? String(contentsOfFile: flooderOutput, encoding: .utf8)) ?? "").split(separator: "\n").last { $0.hasPrefix("flooder:") } ?? "flooder: no report"
    print("flood: \(flooderReport); fake TIE shed \(format(Double(stats.shed))), at most \(format(Double(stats.highWater))) waiting (limit 1,000 per requester)")
    print("flood: probe idle p50 \(format(idle.p50, digits: 2)) ms, p99 \(format(idle.p99, digits: 2)) ms; under the flood p50 \(format(flooded.p50, digits: 2)) ms, p99 \(format(flooded.p99, digits: 2)) ms, \(format(flooded.throughput)) of 100 req/s answered — p50 \(format(flooded.p50 / max(idle.p50, 0.001), digits: 1))×, p99 \(format(flooded.p99 / max(idle.p99, 0.001), digits: 1))× idle (goal within 5×)")
    print("flood: RSS tiesim process (fabric + probe; the flooder is a process of its own) \(format(startRSS.0, digits: 1)) MB before, peak \(format(peak.tiesim, digits: 1)) MB, \(format(endRSS.0, digits: 1)) MB after; mosquitto \(format(startRSS.1, digits: 1)) → peak \(format(peak.mosquitto, digits: 1)) → \(format(endRSS.1, digits: 1)) MB")
    await probe.disconnect()
    await fabric.stop()
}

/// The flooding requester (`tiesim-bench flood` starts it as a process of its own).
func floodClient() async throws {
    guard let index = arguments.firstIndex(of: "--config"), let md5Index = arguments.firstIndex(of: "--md5") else { return }
    let rate = option("--rate", 10_000), floodSeconds = option("--seconds", 30)
    let config = try DXLClientConfig(contentsOf: arguments[index + 1])
    let payload = try reputationRequest(md5: arguments[md5Index + 1])
    let perTick = max(1, rate / 100)
    /// Calls `send` `perTick` times every 10 ms for the flood's seconds; returns how many were sent.
    func paced(_ send: (Int) -> Void) async -> Int {
        var sent = 0
        let deadline = clock.now + .seconds(floodSeconds)
        var next = clock.now
        while clock.now < deadline {
            for _ in 0..<perTick {
                send(sent)
                sent += 1
            }
            next = next + .milliseconds(10)
            if next > clock.now { try? await Task.sleep(until: next, clock: clock) }
        }
        return sent
    }
    if arguments.contains("--vary-reply-to") {
        // A requester that gives every request another reply-to topic (20,000 of them in turn), published
        // raw: the fake TIE's limit must hold anyway (it keys on the client id the broker stamps).
        let certificates = try FabricCertificates.prepare(in: (config.brokerCertChain as NSString).deletingLastPathComponent, clients: ["client"])
        let raw = RawPublisher(certificates: certificates, port: config.brokers[0].port)
        let sent = await paced { number in
            var request = DXLMessage.request(topic: TieTopic.getFileReputation, payload: payload)
            request.replyToTopic = "/mcafee/client/{flood-\(number % 20_000)}"
            let bytes = DXLMessageCodec.encode(request)
            _ = bytes.withUnsafeBytes { mosquitto_publish(raw.mosq, nil, TieTopic.getFileReputation, Int32($0.count), $0.baseAddress, 0, false) }
        }
        raw.close()
        print("flooder: sent \(format(Double(sent))) (\(format(Double(sent) / Double(floodSeconds))) req/s) with \(format(Double(min(sent, 20_000)))) different reply-to topics (answers go to topics nobody reads)")
        return
    }
    let flooder = try DXLClient(config: config)
    try await flooder.connect()
    // Answered with reputations; told "overloaded" (an ErrorResponse, at once); not answered at all.
    let answered = Atomic<Int>(0), refused = Atomic<Int>(0), failed = Atomic<Int>(0)
    let sent = await paced { _ in
        flooder.asyncRequest(.request(topic: TieTopic.getFileReputation, payload: payload), timeout: .seconds(5)) { result in
            switch result {
            case .success(let reply) where reply.type == .response: answered.add(1, ordering: .relaxed)
            case .success(let reply) where reply.type == .errorResponse: refused.add(1, ordering: .relaxed)
            case .failure(.errorResponse): refused.add(1, ordering: .relaxed)
            default: failed.add(1, ordering: .relaxed)
            }
        }
    }
    try await Task.sleep(for: .seconds(6))  // the last requests are answered or time out
    print("flooder: sent \(format(Double(sent))) (\(format(Double(sent) / Double(floodSeconds))) req/s), answered \(format(Double(answered.load(ordering: .relaxed)))), told \"overloaded\" \(format(Double(refused.load(ordering: .relaxed)))), not answered \(format(Double(failed.load(ordering: .relaxed))))")
    await flooder.disconnect()
}
