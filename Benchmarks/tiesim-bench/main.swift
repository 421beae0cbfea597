// tiesim-bench: the simulator's performance figures, each beside the baseline its issue names,
// measured in the same run.
//
//   swift run -c release tiesim-bench [player|parse|requests|store|callbacks|plugin|detections|flood|all] [--events N] [--seconds S] [--rounds R]
//
// player   — a timeline of 1,000,000 detection events vs raw libmosquitto publishing the same bytes
//            (goal ≥ 90 %), and peak RSS after 10 k and after 1 M events (goal: flat).
// parse    — parse and validate a generated 10 MB scenario file (goal < 1 s).
// requests — get_file_reputation throughput and p50/p99 latency with 1, 8 and 64 concurrent requesters,
//            fake TIE vs a Python dxlclient service answering from the same data, same load generator
//            (goal ≥ 10× Python), and p99 at a paced 1,000 requests/s (goal < 2 ms).
// callbacks — detection events/s delivered to a Swift TieClient callback (dictionary built), beside the
//            Python dxltieclient DetectionCallback and a raw libmosquitto subscriber, same stream
//            (goals ≥ 10× Python, ≥ 80 % of raw). The stream batches packets into TLS records;
//            `callbacks libmosquitto` publishes it through bare libmosquitto instead.
// detections — the callback path's own cost without a broker: DXL decode, JSON parse, Detection and
//            Python's dictionary built, per event (not part of "all").
// store    — load time of 1,000,000 files and lookup time at 1 k, 100 k and 1 M files (goal: flat).
// plugin   — events through a broker with the DXL broker plugin vs the same broker without it (raw and
//            player streams, goal ≥ 95 %), the plugin's cost per routed request, and the no-destination
//            error's p99 at a paced 1,000 requests/s (goal < 1 ms).
// flood    — one requester floods the fake TIE (--rate 10000 --seconds 30) while a probe sends 100 req/s:
//            the probe's latency idle and under the flood (goal within 5×), requests shed, RSS (bounded).
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

let arguments = CommandLine.arguments
let mode = arguments.count > 1 && !arguments[1].hasPrefix("--") ? arguments[1] : "all"
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func format(_ value: Double, digits: Int = 0) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = 0
    // Foundation on Linux ignores fraction digits for decimal style: the fraction is written by hand.
    let whole = formatter.string(from: NSNumber(value: digits == 0 ? value.rounded() : value.rounded(.towardZero))) ?? String(value)
    guard digits > 0 else { return whole }
    let fraction = String(format: "%.\(digits)f", abs(value).truncatingRemainder(dividingBy: 1))
    return whole + fraction.dropFirst(1)
}

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

let workFolder = NSTemporaryDirectory() + "tiesim-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: workFolder) }

// MARK: Player

func benchPlayer() async throws {
    let events = option("--events", 1_000_000)
    let yaml = { (count: Int) in
        """
        settings: {waitForSubscribers: false}
        files:
          FOCUS_MALWARE2.EXE:
            md5: eb5e2b9dc51817a086d7b97eb52410ab
            sha1: 435dfd470f727437c7cb4f07cba1f9a1f4272656
            sha256: 414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb
        timeline:
          - detection:
              file: FOCUS_MALWARE2.EXE
              localReputation: KNOWN_MALICIOUS
              remediationAction: 5
            repeat: \(count)
            agents: 1000
        """
    }
    var options = SimulatedFabric.Options(stateDirectory: workFolder + "/player")
    options.scenarios = []
    let fabric = try await SimulatedFabric.start(options)
    defer { Task { await fabric.stop() } }
    let small = try ScenarioLoader.parse(text: yaml(10_000), file: "bench-10k.yaml")
    let large = try ScenarioLoader.parse(text: yaml(events), file: "bench-1m.yaml")
    let sample = try require(fabric.player().payload(for: large.timeline[0], index: 0, scenario: large))
    // The baseline publishes exactly what the player does: the same payload, stamped with the player
    // client's id and tiesim's broker GUID as every message from the fabric is.
    var sampleMessage = DXLMessage.event(topic: TieTopic.fileDetection, payload: Array(sample.serialized(style: JSONValue.Style.python).utf8))
    sampleMessage.sourceClientId = fabric.playerClient.clientId
    sampleMessage.sourceBrokerId = fabric.brokerGuid
    let sampleBytes = DXLMessageCodec.encode(sampleMessage)
    print("player: detection event of \(sampleBytes.count) bytes on the wire")

    // Warm up, and measure peak RSS after a 10 k-event timeline.
    _ = try await fabric.play([small])
    let rss10k = peakRSSMegabytes()
    // Alternate raw libmosquitto (the same bytes, the same flow-control window) and the player; medians.
    let rounds = option("--rounds", 3)
    var rawRates: [Double] = []
    var playerRates: [Double] = []
    // The fabric journals every event through its own subscription; each side starts once the broker has
    // delivered the other side's events to it, so that neither pays for the other's backlog.
    func settle() async {
        var last = -1
        while fabric.journal.recordedCount != last {
            last = fabric.journal.recordedCount
            try? await Task.sleep(for: .milliseconds(300))
        }
    }
    // The sides take turns going first, so that neither always inherits the machine's state from the other.
    for round in 1...rounds {
        for side in round % 2 == 1 ? ["raw", "player"] : ["player", "raw"] {
            await settle()
            if side == "raw" {
                let raw = RawPublisher(certificates: fabric.certificates, port: fabric.broker.port)
                rawRates.append(raw.publish(bytes: sampleBytes, topic: TieTopic.fileDetection, count: events))
                raw.close()
            } else {
                let start = clock.now
                let results = try await fabric.play([large])
                playerRates.append(Double(results[0].sent) / seconds(clock.now - start))
            }
        }
        print("player: round \(round): raw libmosquitto \(format(rawRates.last!)) ev/s, player \(format(playerRates.last!)) ev/s = \(format(100 * playerRates.last! / rawRates.last!, digits: 1)) %")
    }
    let rss1m = peakRSSMegabytes()
    let rawRate = rawRates.sorted()[rawRates.count / 2]
    let playerRate = playerRates.sorted()[playerRates.count / 2]
    let ratios = zip(playerRates, rawRates).map { 100 * $0 / $1 }.sorted()
    print("player: median of \(rounds): raw libmosquitto publish \(format(rawRate)) ev/s; player \(format(playerRate)) ev/s for \(events) events = \(format(100 * playerRate / rawRate, digits: 1)) % of raw; median of the rounds' ratios \(format(ratios[ratios.count / 2], digits: 1)) % (goal ≥ 90 %)")
    print("player: peak RSS after a 10 k-event timeline \(format(rss10k, digits: 1)) MB, after \(rounds) \(events / 1000) k-event timelines \(format(rss1m, digits: 1)) MB")
    await fabric.stop()
}

/// A bare libmosquitto client with the fabric's client certificate, for the baselines. A subclass sets
/// its callbacks (libmosquitto's user data is the object), then `start` connects and runs libmosquitto's
/// own network thread.
class RawClient: @unchecked Sendable {
    let mosq: OpaquePointer

    init(name: String, certificates: FabricCertificates, certificate: String = "client") {
        mosq = mosquitto_new("raw-\(name)-\(UUID())", true, nil)!
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_tls_set(mosq, certificates.caCertificate, nil, certificates.clientCertificate(certificate), certificates.clientKey(certificate), nil)
        mosquitto_tls_insecure_set(mosq, true)
    }

    /// Connects to the fabric's broker and waits until `ready`.
    func start(port: Int, until ready: () -> Bool) {
        mosquitto_connect(mosq, "127.0.0.1", Int32(port), 60)
        mosquitto_loop_start(mosq)
        while !ready() { usleep(1000) }
    }

    func close() {
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        mosquitto_destroy(mosq)
    }
}

/// A bare libmosquitto publisher, for the baseline.
final class RawPublisher: RawClient, @unchecked Sendable {
    let written = Atomic<Int>(0)
    let connected = Atomic<Bool>(false)
    /// The written count the publishing thread waits for (-1: it does not wait), and its wake-up.
    let waitingFor = Atomic<Int>(-1)
    let drained = DispatchSemaphore(value: 0)

    init(certificates: FabricCertificates, port: Int) {
        super.init(name: "publisher", certificates: certificates)
        mosquitto_max_inflight_messages_set(mosq, 0)
        mosquitto_connect_callback_set(mosq) { _, userdata, _ in
            Unmanaged<RawPublisher>.fromOpaque(userdata!).takeUnretainedValue().connected.store(true, ordering: .releasing)
        }
        mosquitto_publish_callback_set(mosq) { _, userdata, _ in
            let me = Unmanaged<RawPublisher>.fromOpaque(userdata!).takeUnretainedValue()
            let count = me.written.add(1, ordering: .sequentiallyConsistent).newValue
            if count == me.waitingFor.load(ordering: .sequentiallyConsistent) { me.drained.signal() }
        }
        start(port: port) { connected.load(ordering: .acquiring) }
    }

    /// Publishes `count` copies with the player's flow control (nil: none) — past `window` unwritten
    /// messages, sleep until half of them are written, woken by the publish callback — returns events/s.
    func publish(bytes: [UInt8], topic: String, count: Int, window: Int? = 5_000) -> Double {
        let start = clock.now
        func waitUntilWritten(_ target: Int) {
            waitingFor.store(target, ordering: .sequentiallyConsistent)
            // A signal left over from an earlier wait (the callback saw the target as the count passed it)
            // only costs one more look at the count.
            while written.load(ordering: .sequentiallyConsistent) < target { drained.wait() }
            waitingFor.store(-1, ordering: .sequentiallyConsistent)
        }
        bytes.withUnsafeBytes { buffer in
            for index in 0..<count {
                mosquitto_publish(mosq, nil, topic, Int32(buffer.count), buffer.baseAddress, 0, false)
                if let window, index % 512 == 0, index - written.load(ordering: .relaxed) > window {
                    waitUntilWritten(index + 1 - window / 2)
                }
            }
        }
        waitUntilWritten(count)
        return Double(count) / seconds(clock.now - start)
    }
}

/// A connection the callbacks benchmark streams events through.
protocol EventStream: Sendable {
    /// Publishes `count` copies of `bytes` on `topic`, returning once they are written.
    func send(_ bytes: [UInt8], topic: String, count: Int)
    func close()
}

extension RawPublisher: EventStream {
    func send(_ bytes: [UInt8], topic: String, count: Int) { _ = publish(bytes: bytes, topic: topic, count: count) }
}

func require<T>(_ value: T?) throws -> T {
    guard let value else { throw BenchError(description: "missing value") }
    return value
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

// MARK: Parse

func benchParse() throws {
    var text = "name: ten-megabytes\nsettings: {seed: big, waitForSubscribers: false}\nfiles:\n"
    var index = 0
    while text.utf8.count < 10_000_000 {
        let md5 = Generated.hash(seed: "p", name: "\(index)", type: .md5)
        let sha1 = Generated.hash(seed: "p", name: "\(index)", type: .sha1)
        let sha256 = Generated.hash(seed: "p", name: "\(index)", type: .sha256)
        text += "  FILE\(index).EXE:\n    md5: \(md5)\n    sha1: \(sha1)\n    sha256: \(sha256)\n    reputations:\n      GTI: KNOWN_TRUSTED\n      ENTERPRISE: {trustLevel: UNKNOWN, attributes: {PREVALENCE: \"3\"}}\n"
        index += 1
    }
    text += "timeline:\n  - detection: {file: FILE0.EXE}\n    repeat: 1000\n"
    let path = workFolder + "/ten-megabytes.yaml"
    try FileManager.default.createDirectory(atPath: workFolder, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    var best = Duration.seconds(1000)
    var scenario: Scenario?
    for _ in 0..<3 {
        let start = clock.now
        scenario = try ScenarioLoader.load(path: path)
        best = min(best, clock.now - start)
    }
    var readBest = Duration.seconds(1000), composeBest = Duration.seconds(1000)
    for _ in 0..<3 {
        var start = clock.now
        guard QuickYAMLReader.read(text) != nil else { throw BenchError(description: "the quick YAML reader left the benchmark file to Yams") }
        readBest = min(readBest, clock.now - start)
        start = clock.now
        _ = try Yams.compose(yaml: text, .basic)
        composeBest = min(composeBest, clock.now - start)
    }
    print("parse: of which reading the YAML tree takes \(format(seconds(readBest) * 1000)) ms (Yams would take \(format(seconds(composeBest) * 1000)) ms), and tiesim validates in the rest")
    print("parse: \(format(Double(text.utf8.count) / 1e6, digits: 1)) MB scenario with \(scenario?.files.count ?? 0) files parsed and validated in \(format(seconds(best) * 1000)) ms (best of 3; goal < 1,000 ms)")
}

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
    var data: [String: JSONValue] = [:]
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
    let payload = Array(#"{"hashes": [{"type": "md5", "value": "\#(try HashEncoding.base64(hex: file.md5))"}], "scanType": 3}"#.utf8)
    // Both answer the same request with the same reputations.
    let a = try await clients[0].request(.request(topic: TieTopic.getFileReputation, payload: payload), timeout: .seconds(10))
    let b = try await clients[0].request(.request(topic: pythonTopic, payload: payload), timeout: .seconds(10))
    let same = (try? JSONValue.parse(a.payload)["reputations"]) == (try? JSONValue.parse(b.payload)["reputations"])
    print("requests: fake TIE and Python service give the same reputations: \(same)")
    // The ceiling: the same load generator against a responder on bare libmosquitto that sends the fake
    // TIE's response bytes without looking anything up. No service can answer faster through this broker.
    let rawTopic = "/bench/raw/file/reputation"
    let rawResponder = RawResponder(certificates: fabric.certificates, port: fabric.broker.port, topic: rawTopic, payload: a.payload)
    defer { rawResponder.close() }
    // The fake TIE against the ceiling in alternating rounds (the machine drifts: one long measurement of
    // each compares two moments, not two services); Python once, for scale.
    let rounds = option("--rounds", 5)
    let roundLength = Duration.seconds(max(1, option("--round-seconds", 2)))
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    for concurrency in [1, 8, 64] {
        var ties: [LatencyResult] = [], raws: [LatencyResult] = []
        for round in 0..<rounds {
            if round % 2 == 0 {
                ties.append(await load(clients: clients, topic: TieTopic.getFileReputation, payload: payload, concurrency: concurrency, duration: roundLength))
                raws.append(await load(clients: clients, topic: rawTopic, payload: payload, concurrency: concurrency, duration: roundLength))
            } else {
                raws.append(await load(clients: clients, topic: rawTopic, payload: payload, concurrency: concurrency, duration: roundLength))
                ties.append(await load(clients: clients, topic: TieTopic.getFileReputation, payload: payload, concurrency: concurrency, duration: roundLength))
            }
        }
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
    for client in clients { await client.disconnect() }
    await fabric.stop()
}

// MARK: Store

func benchStore() {
    let total = 1_000_000
    // Generate the files first, so that the load time is the store's own.
    let generationStart = clock.now
    let files = (0..<total).map { index in
        FileKnowledge(name: "F\(index)", md5: Generated.hash(seed: "s", name: "\(index)", type: .md5),
                      sha1: Generated.hash(seed: "s", name: "\(index)", type: .sha1), sha256: Generated.hash(seed: "s", name: "\(index)", type: .sha256),
                      reputations: [Reputation(providerId: 1, trustLevel: 99, createDate: 0)])
    }
    print("store: generated \(format(Double(total))) files in \(format(seconds(clock.now - generationStart), digits: 1)) s")
    let store = ReputationStore()
    var loaded = 0
    var loadTime = Duration.zero
    for checkpoint in [1_000, 100_000, total] {
        let start = clock.now
        store.load(Scenario(name: "bench", source: "bench", files: Array(files[loaded..<checkpoint])))
        loadTime += clock.now - start
        loaded = checkpoint
        // Look up 200,000 known sha256 hashes spread over what is loaded.
        let probes = (0..<1000).map { [("sha256", files[$0 * loaded / 1000].sha256)] }
        let rounds = 200_000
        let lookupStart = clock.now
        var found = 0
        for index in 0..<rounds {
            if case .found = store.file(hashes: probes[index % probes.count]) { found += 1 }
        }
        let perLookup = seconds(clock.now - lookupStart) / Double(rounds) * 1e9
        print("store: \(format(Double(loaded))) files: lookup by sha256 \(format(perLookup)) ns (\(found == rounds ? "all found" : "MISSING"))")
    }
    print("store: loading \(format(Double(total))) files took \(format(seconds(loadTime), digits: 2)) s")
}

if mode == "player" || mode == "all" { try await benchPlayer() }
if mode == "parse" || mode == "all" { try benchParse() }
if mode == "requests" || mode == "all" { try await benchRequests() }
if mode == "store" || mode == "all" { benchStore() }
if mode == "callbacks" || mode == "all" { try await benchCallbacks() }
if mode == "flood" { try await benchFlood() }
if mode == "plugin" || mode == "all" { try await benchPlugin() }
if mode == "websockets" || mode == "all" { try await benchWebSockets() }
if mode == "detections" { try benchDetections() }
if mode == "flood-client" { try await floodClient() }

// MARK: Callbacks

/// A raw libmosquitto subscriber counting messages, for the baseline.
final class RawSubscriber: RawClient, @unchecked Sendable {
    let received = Atomic<Int>(0)
    let lastArrival = Mutex<ContinuousClock.Instant?>(nil)
    let ready = Atomic<Int>(0)
    let topic: String

    init(certificates: FabricCertificates, port: Int, topic: String) {
        self.topic = topic
        super.init(name: "subscriber", certificates: certificates)
        mosquitto_connect_callback_set(mosq) { mosq, userdata, _ in
            let me = Unmanaged<RawSubscriber>.fromOpaque(userdata!).takeUnretainedValue()
            mosquitto_subscribe(mosq, nil, me.topic, 0)
            me.ready.add(1, ordering: .relaxed)
        }
        mosquitto_subscribe_callback_set(mosq) { _, userdata, _, _, _ in
            Unmanaged<RawSubscriber>.fromOpaque(userdata!).takeUnretainedValue().ready.add(1, ordering: .relaxed)
        }
        mosquitto_message_callback_set(mosq) { _, userdata, _ in
            let me = Unmanaged<RawSubscriber>.fromOpaque(userdata!).takeUnretainedValue()
            me.received.add(1, ordering: .relaxed)
            me.lastArrival.withLock { $0 = clock.now }
        }
        start(port: port) { ready.load(ordering: .relaxed) >= 2 }
    }
}

/// The fastest service there can be, for the ceiling of the request benchmark: libmosquitto's own loop
/// thread decodes each request and publishes a response with a fixed payload — no dispatch, no lookup.
final class RawResponder: RawClient, @unchecked Sendable {
    let ready = Atomic<Int>(0)
    let payload: [UInt8]
    let topic: String

    init(certificates: FabricCertificates, port: Int, topic: String, payload: [UInt8]) {
        self.payload = payload
        self.topic = topic
        // tiesim's own certificate, as the fake TIE has: the broker journals neither's requests, so the
        // ceiling pays for nothing the fake TIE does not.
        super.init(name: "responder", certificates: certificates, certificate: "tiesim")
        mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_connect_callback_set(mosq) { mosq, userdata, _ in
            let me = Unmanaged<RawResponder>.fromOpaque(userdata!).takeUnretainedValue()
            mosquitto_subscribe(mosq, nil, me.topic, 0)
            // Registered as a service of its topic, like any DXL service, so the broker routes requests to it.
            var register = DXLMessage.request(topic: ServiceRegistryTopic.register,
                                              payload: ServiceRegistrationInfo(serviceType: "/bench/raw", requestHandlers: [me.topic: { _ in }]).registerPayload)
            register.replyToTopic = "/mcafee/client/raw-responder"
            DXLMessageCodec.encode(register).withUnsafeBytes { _ = mosquitto_publish(mosq, nil, ServiceRegistryTopic.register, Int32($0.count), $0.baseAddress, 0, false) }
        }
        mosquitto_subscribe_callback_set(mosq) { _, userdata, _, _, _ in
            Unmanaged<RawResponder>.fromOpaque(userdata!).takeUnretainedValue().ready.add(1, ordering: .relaxed)
        }
        mosquitto_message_callback_set(mosq) { mosq, userdata, message in
            let me = Unmanaged<RawResponder>.fromOpaque(userdata!).takeUnretainedValue()
            guard let message = message?.pointee, let body = message.payload,
                  let request = try? DXLMessageCodec.decode(UnsafeRawBufferPointer(start: body, count: Int(message.payloadlen))),
                  let reply = request.replyToTopic else { return }
            let bytes = DXLMessageCodec.encode(.response(to: request, payload: me.payload))
            bytes.withUnsafeBytes { _ = mosquitto_publish(mosq, nil, reply, Int32($0.count), $0.baseAddress, 0, false) }
        }
        start(port: port) { ready.load(ordering: .relaxed) >= 1 }
    }
}

final class ArrivalCounter: Sendable {
    let count = Atomic<Int>(0)
    let last = Mutex<ContinuousClock.Instant?>(nil)
}

/// Waits until `count()` reaches `target` or stops growing for 5 s.
func waitForArrivals(_ target: Int, _ count: () -> Int) {
    var last = -1
    var changed = clock.now
    while count() < target {
        let now = count()
        if now != last { last = now; changed = clock.now }
        if clock.now - changed > .seconds(5) { break }
        usleep(500)
    }
}

enum Seed {
    /// The seed's detection event as the real TIE sends it (hashes as base64 lists), encoded as a DXL
    /// event. (A static, not a top-level constant: main.swift's top-level code runs the benchmarks before
    /// reaching this line.)
    static let detectionMessage = DXLMessageCodec.encode(.event(topic: TieTopic.fileDetection, payload: Array(
        #"{"agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "detectionTime": 1481301796, "hashes": [{"type": "md5", "value": "614rncUYF6CG17l+tSQQqw=="}, {"type": "sha1", "value": "Q139Rw9ydDfHy08Hy6H5ofQnJlY="}, {"type": "sha256", "value": "QUuxaxDs4tsthEjLnzE/gMt3wxDKDBnuA8c8ugwW/ts="}], "localReputation": 1, "name": "FOCUS_MALWARE2.EXE", "remediationAction": 5}"#.utf8)))
}

/// The callback path's own cost, without a broker: a detection event's bytes decoded into a `DXLMessage`
/// and turned into a `Detection` with its Python-equivalent dictionary, as `TieClient` does per event.
func benchDetections() throws {
    let bytes = Seed.detectionMessage
    let certificates = try FabricCertificates.prepare(in: workFolder + "/detections")
    let config = DXLClientConfig(brokerCertChain: certificates.caCertificate, certFile: certificates.clientCertificate("client"),
                                 privateKey: certificates.clientKey("client"), brokers: [DXLBroker(uniqueId: "none", host: "127.0.0.1", port: 1)])
    let tie = TieClient(try DXLClient(config: config))
    let count = option("--events", 1_000_000)
    for _ in 1...3 {
        var found = 0
        let start = clock.now
        for _ in 0..<count {
            let message = try bytes.withUnsafeBytes { try DXLMessageCodec.decode($0, topic: TieTopic.fileDetection) }
            if tie.detection(from: message)?.hashes["md5"] != nil { found += 1 }
        }
        let elapsed = seconds(clock.now - start)
        print("detections: \(found) events decoded in \(format(elapsed * 1000, digits: 1)) ms = \(format(elapsed / Double(count) * 1e9)) ns an event")
    }
}

func benchCallbacks() async throws {
    let events = option("--events", 100_000)
    var options = SimulatedFabric.Options(stateDirectory: workFolder + "/callbacks")
    options.clients = ["client", "python"]
    // Only the broker is needed: without tiesim's own subscriptions the broker fans each event out once.
    options.journalEvents = false
    let fabric = try await SimulatedFabric.start(options)
    let bytes = Seed.detectionMessage
    // The stream: `--publishers` connections (default 1) sharing the events. By default they batch
    // many PUBLISH packets to a TLS record (BatchedPublisher), so that the stream is as fast as mosquitto
    // delivers; `callbacks libmosquitto` publishes through bare libmosquitto, one record per packet.
    let publishers = max(1, option("--publishers", 1))
    let batched = !arguments.contains("libmosquitto")
    print("callbacks: \(events) detection events of \(bytes.count) bytes, published by \(publishers) \(batched ? "batching (many packets a TLS record)" : "bare libmosquitto") connection(s), to one subscriber at a time")
    func publishStream() throws -> ContinuousClock.Instant {
        let shares = (0..<publishers).map { events / publishers + ($0 < events % publishers ? 1 : 0) }
        let connections: [any EventStream] = try (0..<publishers).map { _ in
            batched ? try BatchedPublisher(certificates: fabric.certificates, port: fabric.broker.port) as any EventStream
                    : RawPublisher(certificates: fabric.certificates, port: fabric.broker.port)
        }
        let group = DispatchGroup()
        let start = clock.now
        for (publisher, share) in zip(connections, shares) {
            group.enter()
            Thread { publisher.send(bytes, topic: TieTopic.fileDetection, count: share); group.leave() }.start()
        }
        group.wait()
        for publisher in connections { publisher.close() }
        return start
    }

    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python_detection_counter.py").path
    var rates: [(raw: Double, swift: Double, python: Double)] = []
    let rounds = max(1, option("--rounds", 3))
    for round in 1...rounds {
        // Raw libmosquitto subscriber.
        let raw = RawSubscriber(certificates: fabric.certificates, port: fabric.broker.port, topic: TieTopic.fileDetection)
        let rawStart = try publishStream()
        waitForArrivals(events) { raw.received.load(ordering: .relaxed) }
        let rawCount = raw.received.load(ordering: .relaxed)
        let rawRate = Double(rawCount) / seconds((raw.lastArrival.withLock { $0 } ?? clock.now) - rawStart)
        raw.close()

        // Swift TieClient: the callback gets the typed detection with the Python-equivalent dictionary.
        // (Subscribed only for its own stream: each subscriber gets the broker to itself.)
        let client = try DXLClient(config: fabric.clientConfig())
        try await client.connect()
        let tie = TieClient(client)
        let counter = ArrivalCounter()
        try await tie.addFileDetectionCallback { detection in
            if detection.dictionary["hashes"]?["md5"] != nil { counter.count.add(1, ordering: .relaxed) }
            counter.last.withLock { $0 = clock.now }
        }
        let swiftStart = try publishStream()
        waitForArrivals(events) { counter.count.load(ordering: .relaxed) }
        let swiftCount = counter.count.load(ordering: .relaxed)
        let swiftRate = Double(swiftCount) / seconds((counter.last.withLock { $0 } ?? clock.now) - swiftStart)
        await client.disconnect()

        // Python dxltieclient DetectionCallback.
        let output = workFolder + "/python-callbacks-\(round).out"
        let python = try ChildProcess(executable: "/usr/bin/env", arguments: ["python3", script, options.stateDirectory + "/dxlclient-python.config", String(events)], outputPath: output)
        defer { python.terminate() }
        while !((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("READY") { try await Task.sleep(for: .milliseconds(50)) }
        let wallStart = Date().timeIntervalSince1970
        _ = try publishStream()
        python.wait()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let pythonCount = fields.firstIndex(of: "SEEN").map { Int(fields[$0 + 1]) ?? 0 } ?? 0
        let pythonLast = fields.firstIndex(of: "LAST").map { Double(fields[$0 + 1]) ?? 0 } ?? 0
        let pythonRate = Double(pythonCount) / max(0.001, pythonLast - wallStart)
        print("callbacks: round \(round): raw libmosquitto subscriber \(format(rawRate)) ev/s (\(rawCount)/\(events)); Swift TieClient \(format(swiftRate)) ev/s (\(swiftCount)/\(events)); Python dxltieclient \(format(pythonRate)) ev/s (\(pythonCount)/\(events))")
        rates.append((rawRate, swiftRate, pythonRate))
    }
    let median = { (values: [Double]) in values.sorted()[values.count / 2] }
    let (rawRate, swiftRate, pythonRate) = (median(rates.map(\.raw)), median(rates.map(\.swift)), median(rates.map(\.python)))
    print("callbacks: median of \(rounds): raw \(format(rawRate)) ev/s, Swift \(format(swiftRate)) ev/s, Python \(format(pythonRate)) ev/s")
    print("callbacks: Swift = \(format(swiftRate / max(pythonRate, 1), digits: 1))× Python (goal ≥ 10×), \(format(100 * swiftRate / rawRate, digits: 1)) % of raw (goal ≥ 80 %)")
    await fabric.stop()
}

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
    let payload = Array(#"{"hashes": [{"type": "md5", "value": "\#(try HashEncoding.base64(hex: scenario.files[0].md5))"}], "scanType": 3}"#.utf8)
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
    print("flood: RSS tiesim process (fabric + flooder + probe) \(format(startRSS.0, digits: 1)) MB before, peak \(format(peak.tiesim, digits: 1)) MB, \(format(endRSS.0, digits: 1)) MB after; mosquitto \(format(startRSS.1, digits: 1)) → peak \(format(peak.mosquitto, digits: 1)) → \(format(endRSS.1, digits: 1)) MB")
    await probe.disconnect()
    await fabric.stop()
}

/// The flooding requester (`tiesim-bench flood` starts it as a process of its own).
func floodClient() async throws {
    guard let index = arguments.firstIndex(of: "--config"), let md5Index = arguments.firstIndex(of: "--md5") else { return }
    let rate = option("--rate", 10_000), floodSeconds = option("--seconds", 30)
    let config = try DXLClientConfig(contentsOf: arguments[index + 1])
    let payload = Array(#"{"hashes": [{"type": "md5", "value": "\#(try HashEncoding.base64(hex: arguments[md5Index + 1]))"}], "scanType": 3}"#.utf8)
    if arguments.contains("--vary-reply-to") {
        // A requester that gives every request another reply-to topic (20,000 of them in turn), published
        // raw: the fake TIE's limit must hold anyway (it keys on the client id the broker stamps).
        let certificates = try FabricCertificates.prepare(in: (config.brokerCertChain as NSString).deletingLastPathComponent, clients: ["client"])
        let raw = RawPublisher(certificates: certificates, port: config.brokers[0].port)
        var sent = 0
        let deadline = clock.now + .seconds(floodSeconds)
        var next = clock.now
        while clock.now < deadline {
            for _ in 0..<max(1, rate / 100) {
                var request = DXLMessage.request(topic: TieTopic.getFileReputation, payload: payload)
                request.replyToTopic = "/mcafee/client/{flood-\(sent % 20_000)}"
                let bytes = DXLMessageCodec.encode(request)
                _ = bytes.withUnsafeBytes { mosquitto_publish(raw.mosq, nil, TieTopic.getFileReputation, Int32($0.count), $0.baseAddress, 0, false) }
                sent += 1
            }
            next = next + .milliseconds(10)
            if next > clock.now { try? await Task.sleep(until: next, clock: clock) }
        }
        raw.close()
        print("flooder: sent \(format(Double(sent))) (\(format(Double(sent) / Double(floodSeconds))) req/s) with \(format(Double(min(sent, 20_000)))) different reply-to topics (answers go to topics nobody reads)")
        return
    }
    let flooder = try DXLClient(config: config)
    try await flooder.connect()
    // Answered with reputations; told "overloaded" (an ErrorResponse, at once); not answered at all.
    let answered = Atomic<Int>(0), refused = Atomic<Int>(0), failed = Atomic<Int>(0)
    var sent = 0
    let deadline = clock.now + .seconds(floodSeconds)
    var next = clock.now
    let perTick = max(1, rate / 100)
    while clock.now < deadline {
        for _ in 0..<perTick {
            flooder.asyncRequest(.request(topic: TieTopic.getFileReputation, payload: payload), timeout: .seconds(5)) { result in
                switch result {
                case .success(let reply) where reply.type == .response: answered.add(1, ordering: .relaxed)
                case .success(let reply) where reply.type == .errorResponse: refused.add(1, ordering: .relaxed)
                case .failure(.errorResponse): refused.add(1, ordering: .relaxed)
                default: failed.add(1, ordering: .relaxed)
                }
            }
        }
        sent += perTick
        next = next + .milliseconds(10)
        if next > clock.now { try? await Task.sleep(until: next, clock: clock) }
    }
    try await Task.sleep(for: .seconds(6))  // the last requests are answered or time out
    print("flooder: sent \(format(Double(sent))) (\(format(Double(sent) / Double(floodSeconds))) req/s), answered \(format(Double(answered.load(ordering: .relaxed)))), told \"overloaded\" \(format(Double(refused.load(ordering: .relaxed)))), not answered \(format(Double(failed.load(ordering: .relaxed))))")
    await flooder.disconnect()
}
