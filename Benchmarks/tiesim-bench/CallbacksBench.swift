// tiesim-bench callbacks and detections: the Swift TieClient's detection callback.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

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
    let (rawRate, swiftRate, pythonRate) = (median(rates.map(\.raw)), median(rates.map(\.swift)), median(rates.map(\.python)))
    print("callbacks: median of \(rounds): raw \(format(rawRate)) ev/s, Swift \(format(swiftRate)) ev/s, Python \(format(pythonRate)) ev/s")
    print("callbacks: Swift = \(format(swiftRate / max(pythonRate, 1), digits: 1))× Python (goal ≥ 10×), \(format(100 * swiftRate / rawRate, digits: 1)) % of raw (goal ≥ 80 %)")
    await fabric.stop()
}
