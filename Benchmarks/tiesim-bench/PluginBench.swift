import CMosquitto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import Synchronization
import Logging
import TIE
import TIESimulator

// MARK: Broker plugin

/// `tiesim-bench plugin`: what the DXL broker plugin costs.
///
/// - Events: the same stream through two mosquitto brokers on this machine, one with the plugin and one
///   without, in rounds that take turns: dxl-bench's two streams — raw libmosquitto publisher → raw
///   subscriber, and `DXLClient.sendEvent` → a `DXLClient` subscriber's callback, source ids empty as
///   clients send them — the raw stream's event already as long as the stamp, and the scenario player →
///   raw subscriber. Saturated: events delivered per second, and mosquitto's CPU
///   time per event (user and kernel); goal: with ≥ 95 % of without. mosquitto runs on a CPU of its own.
///   Paced (`--paced`, 50,000 ev/s by default; 0: not run): the raw and player streams at a rate every
///   broker keeps up with, mosquitto's CPU time per event — the capacity each leaves.
/// - The floors, two more brokers with a C plugin (`floor_plugin.c`, built with clang at run time): "floor"
///   only gives each event a buffer as many bytes longer as the stamp adds (80 with GUID ids) and takes
///   the unstamped streams too (raw, dxlclient): what stamping costs before any DXL work; "no-op" answers every check at once and
///   takes the player stream too (its events arrive stamped): what any plugin costs before it reads a byte.
/// - With `--same-brokers` neither broker loads a plugin: the ratios are then the benchmark's own spread.
/// - Every round restarts the brokers (`--same-processes`: not).
/// - Routing: the plugin's own work per routed request (decode, registry lookup, stamp, re-encode and
///   the recipient check), in-process, no broker.
/// - No destination: requests to a topic nobody serves, paced at 1,000/s: the ErrorResponse's p50/p99
///   (goal p99 < 1 ms).
func benchPlugin() async throws {
    let events = option("--events", 300_000)
    let rounds = option("--rounds", 3)
    // `--streams raw,player`: only those streams in the saturated rounds (all four by default; the paced
    // ones are always raw and player).
    let allStreams = ["raw", "dxlclient", "same-size", "player"]
    let streams = optionList("--streams") ?? allStreams
    if let unknown = streams.first(where: { !allStreams.contains($0) }) {
        print("plugin: no stream \(unknown) (the streams are \(allStreams.joined(separator: ", ")))")
        return
    }
    let folder = workFolder + "/plugin"
    let certificates = try FabricCertificates.prepare(in: folder + "/certs", clients: ["client", "tiesim"])
    var plainOptions = LocalBroker.Options()
    plainOptions.dxlBroker = false
    let without = LocalBroker(directory: folder + "/without", certificates: certificates, options: plainOptions)
    // `--same-brokers`: the "with" broker loses its plugin too, so that every ratio measures the benchmark's
    // own spread (an A/A test): how far from 100 % two identical brokers land on this machine.
    let sameBrokers = arguments.contains("--same-brokers")
    if sameBrokers { print("plugin: --same-brokers: neither broker loads the plugin (the ratios are the benchmark's noise)") }
    let with = LocalBroker(directory: folder + "/with", certificates: certificates, options: sameBrokers ? plainOptions : LocalBroker.Options())
    // `--event-bytes N`: the raw streams' event padded or cut to N bytes (its payload's tail), to see how
    // the cost of the stamp's bytes depends on where they put the event's TCP segments.
    let bytes = try resized(Seed.detectionMessage, to: option("--event-bytes", Seed.detectionMessage.count))
    let payload = try DXLMessageCodec.decode(bytes, topic: TieTopic.fileDetection).payload
    // The same event with its source ids already filled in, as long as the broker's stamp (the raw
    // clients' ids are GUIDs, as DXL clients' are): through either broker, subscribers then receive the
    // same number of bytes, so the ratio is the plugin's work alone. With `bytes`, the plugin's stamp
    // also adds `stampBytes` to every event delivered.
    var prestamped = try DXLMessageCodec.decode(bytes, topic: TieTopic.fileDetection)
    prestamped.sourceClientId = "{" + UUID().uuidString.lowercased() + "}"
    prestamped.sourceBrokerId = with.guid
    let sameSizeBytes = DXLMessageCodec.encode(prestamped)
    let stampBytes = sameSizeBytes.count - bytes.count
    // The floors: mosquitto with the C plugin. "floor" does only what stamping requires (a buffer
    // `stampBytes` longer for each message) and takes the streams that arrive unstamped; "no-op" only
    // answers each check and takes the player stream, whose events arrive stamped: what any plugin costs
    // before it reads a byte.
    let floorPath = sameBrokers ? nil : buildFloorPlugin(in: folder)
    func floorBroker(_ name: String, grow: Int, copy: Bool = false, stamp: Bool = false) -> LocalBroker? {
        floorPath.map { path in
            var options = plainOptions
            options.extraConfiguration = ["plugin \(path)", "plugin_opt_grow \(grow)", "plugin_opt_copy \(copy ? 1 : 0)"]
                + (stamp ? ["plugin_opt_stamp {\(UUID().uuidString.lowercased())}"] : [])
            return LocalBroker(directory: folder + "/" + name, certificates: certificates, options: options)
        }
    }
    var floorKinds: [(String, [String], String, LocalBroker?)] = [
        ("floor", ["raw", "dxlclient"], "a C plugin that only copies each event into a buffer \(stampBytes) bytes longer", floorBroker("floor", grow: stampBytes)),
        ("no-op", ["player"], "a C plugin that answers every check at once and leaves every message as it is", floorBroker("no-op", grow: 0)),
    ]
    if arguments.contains("--copy-floor") {
        // The floor's copy without the stamp's bytes, so that the floor's shortfall splits into what the
        // copy costs and what 80 bytes more per event delivered cost the broker.
        floorKinds.append(("copy", ["raw"], "a C plugin that only copies each event into a new buffer of the same size", floorBroker("copy", grow: 0, copy: true)))
    }
    if arguments.contains("--stamp-floor") {
        // The least a conforming DXL broker does with an event, in C: the header scan and the real stamp.
        floorKinds.append(("stamp", ["raw"], "a C plugin that finds the source ids and stamps the client's and the broker's, nothing else",
                           floorBroker("stamp", grow: 0, stamp: true)))
    }
    let floors = floorKinds.compactMap { name, streams, kind, broker in broker.map { (name: name, streams: streams, kind: kind, broker: $0) } }
    /// Whether broker `name` takes `stream` ("with" and "without" take all, each floor its own).
    func takes(_ name: String, _ stream: String) -> Bool { floors.first { $0.name == name }.map { $0.streams.contains(stream) } ?? true }
    /// The floor that takes `stream`, if any.
    func floorName(of stream: String) -> String? { floors.first { $0.streams.contains(stream) }?.name }
    /// How a floor is named in the results.
    func floorLabel(_ name: String) -> String { name == "floor" ? "the floor" : "the \(name) floor" }
    let brokers = [with, without] + floors.map(\.broker)
    for broker in brokers { try await broker.start() }
    defer { for broker in brokers { broker.stop() } }
    let pinned = pinToLastCPU(brokers.compactMap(\.processIdentifier))
    print("plugin: mosquitto \(pinned ? "on a CPU of its own, the publisher and subscriber on the others" : "sharing the CPUs (could not pin)")")
    /// The player's scenario: `count` detections, at `rate` events/s (nil: as fast as it can).
    func timeline(_ count: Int, rate: Int? = nil) throws -> Scenario {
        try ScenarioLoader.parse(text: """
            settings: {waitForSubscribers: false}
            files:
              FOCUS_MALWARE2.EXE:
                md5: eb5e2b9dc51817a086d7b97eb52410ab
            timeline:
              - detection: {file: FOCUS_MALWARE2.EXE, localReputation: KNOWN_MALICIOUS, remediationAction: 5}
                repeat: \(count)
                agents: 1000\(rate.map { "\n    rate: \($0)/s" } ?? "")
            """, file: "plugin-bench.yaml")
    }
    let saturated = try timeline(events)

    /// Events/s; mosquitto's CPU time per event delivered in µs: in all (its thread's schedstat, to the
    /// nanosecond), in user mode where the plugin runs and in the kernel (the process's clock ticks; the
    /// two add up to the first only roughly); and the share of the round it was on a CPU (`busy`). One
    /// per round, by stream and broker ("raw with", …).
    /// `perSegment`: events per TCP data segment the subscriber received (nan: not known).
    typealias Measured = (rate: Double, cpu: Double, user: Double, system: Double, busy: Double, perSegment: Double)
    var measured: [String: [Measured]] = [:]
    func series(_ key: String, _ pick: (Measured) -> Double) -> [Double] { measured[key, default: []].map(pick) }
    func rates(_ key: String) -> [Double] { series(key) { $0.rate } }
    func cpu(_ key: String) -> [Double] { series(key) { $0.cpu } }
    /// Events/s a subscriber of `broker` receives (`arrivals`: how many so far, and when the last came)
    /// while `send` publishes `count` events. mosquitto's CPU time in all is taken to the nanosecond
    /// (schedstat); its user/kernel split in clock ticks.
    func delivered(_ broker: LocalBroker, count: Int, arrivals: () -> (count: Int, last: ContinuousClock.Instant?),
                   segments: () -> Int = { 0 }, _ send: () async throws -> Void) async throws -> Measured {
        let pid = broker.processIdentifier ?? 0
        let before = cpuTimes(pid: pid), ranBefore = runSeconds(pid: pid), segmentsBefore = segments()
        let start = clock.now
        try await send()
        waitForArrivals(count) { arrivals().count }
        let (arrived, lastArrival) = arrivals()
        let received = Double(arrived), last = lastArrival ?? clock.now
        let after = cpuTimes(pid: pid), ran = runSeconds(pid: pid) - ranBefore
        let elapsed = seconds(clock.now - start)
        let user = (after.user - before.user) / received * 1e6, system = (after.system - before.system) / received * 1e6
        let cut = segments() - segmentsBefore
        return (received / seconds(last - start), ran / received * 1e6, user, system, ran / elapsed, cut > 0 ? received / Double(cut) : .nan)
    }
    /// `delivered` to a raw libmosquitto subscriber.
    func delivered(_ broker: LocalBroker, count: Int = events, _ send: () async throws -> Void) async throws -> Measured {
        let subscriber = RawSubscriber(certificates: certificates, port: broker.port, topic: TieTopic.fileDetection)
        defer { subscriber.close() }
        return try await delivered(broker, count: count, arrivals: { (subscriber.received.load(ordering: .relaxed), subscriber.lastArrival.withLock { $0 }) },
                                   segments: subscriber.dataSegmentsIn, send)
    }
    /// dxl-bench's other stream: `DXLClient.sendEvent` to a `DXLClient` subscriber's event callback.
    func clientStream(_ broker: LocalBroker) async throws -> Measured {
        let arrivals = ArrivalCounter()
        let subscriber = try DXLClient(config: broker.clientConfig())
        let publisher = try DXLClient(config: broker.clientConfig())
        do {
            try await subscriber.connect()
            _ = try await subscriber.addEventCallback(topic: TieTopic.fileDetection) { _ in arrivals.arrived() }
            try await publisher.connect()
            let result = try await delivered(broker, count: events, arrivals: { (arrivals.count.load(ordering: .relaxed), arrivals.last.withLock { $0 }) }) {
                for _ in 0..<events { try publisher.sendEvent(topic: TieTopic.fileDetection, payload: payload) }
            }
            await publisher.disconnect()
            await subscriber.disconnect()
            return result
        } catch {
            await publisher.disconnect()
            await subscriber.disconnect()
            throw error
        }
    }
    /// `count` copies of `stream` from a raw publisher (at `rate` events/s; nil: as fast as it can).
    func rawStream(_ broker: LocalBroker, _ stream: [UInt8], count: Int = events, rate: Double? = nil) async throws -> Measured {
        try await delivered(broker, count: count) {
            let publisher = RawPublisher(certificates: certificates, port: broker.port)
            _ = publisher.publish(bytes: stream, topic: TieTopic.fileDetection, count: count, rate: rate)
            publisher.close()
        }
    }
    func playerStream(_ broker: LocalBroker, _ timeline: Scenario) async throws -> Measured {
        // As in tiesim's fabric, the player fills in the source ids the broker stamps.
        var config = broker.clientConfig(client: "tiesim")
        config.stampedBrokerId = with.guid
        let client = try DXLClient(config: config)
        // Disconnected before the next round restarts the brokers, not left to reconnect to the new ones.
        do {
            try await client.connect()
            let player = ScenarioPlayer(client: client, store: ReputationStore(scenarios: [timeline]), watcher: nil, logger: Logger(label: "bench"))
            let result = try await delivered(broker, count: timeline.timeline.reduce(0) { $0 + $1.count }) { _ = try await player.play([timeline]) }
            await client.disconnect()
            return result
        } catch {
            await client.disconnect()
            throw error
        }
    }

    // Every round on new mosquitto processes (`--same-processes`: the first ones throughout), so that
    // what one process's memory layout costs or saves is drawn again each round instead of biasing a
    // whole run: with the same processes throughout, the A/A medians of three runs landed up to 4 points
    // either side of 100 %; restarted, two A/A runs put the raw stream at 101.9 % and 100.4 %.
    let fresh = !arguments.contains("--same-processes")
    func restartBrokers() async throws {
        for broker in brokers { try await broker.restart() }
        _ = pinToLastCPU(brokers.compactMap(\.processIdentifier))
    }
    /// The brokers by name, in the order round `round` takes them: every second round reversed, and
    /// rotated by one every two rounds, so that each goes first as often as the others and each goes
    /// before each other in half the rounds (a rotation alone put "with" before "without" in three
    /// rounds of four, with four brokers), and none always inherits the machine's state.
    func order(_ round: Int) -> [(String, LocalBroker)] {
        var order = [("with", with), ("without", without)] + floors.map { ($0.name, $0.broker) }
        if round.isMultiple(of: 2) { order.reverse() }
        for _ in 0..<((round - 1) / 2) % order.count { order.append(order.removeFirst()) }
        return order
    }
    for round in 1...rounds {
        if fresh && round > 1 { try await restartBrokers() }
        for (name, broker) in order(round) {
            for stream in streams where takes(name, stream) {
                let result = switch stream {
                case "raw": try await rawStream(broker, bytes)
                case "same-size": try await rawStream(broker, sameSizeBytes)
                case "dxlclient": try await clientStream(broker)
                default: try await playerStream(broker, saturated)
                }
                measured[stream + " " + name, default: []].append(result)
            }
        }
        let last = measured.mapValues { $0.last! }
        print("plugin: round \(round): " + streams.map { stream in
            let with = last[stream + " with"]!, without = last[stream + " without"]!
            let floorPart = floorName(of: stream).flatMap { name in last[stream + " " + name].map { ", \(name) \(format($0.rate)) (\(format(100 * $0.rate / without.rate, digits: 1)) %)" } } ?? ""
            return "\(stream) \(format(with.rate)) ev/s with, \(format(without.rate)) without (\(format(100 * with.rate / without.rate, digits: 1)) %)\(floorPart), "
                + "mosquitto busy \(format(100 * with.busy)) / \(format(100 * without.busy)) %"
                + ", CPU per event \(format(with.cpu, digits: 2)) / \(format(without.cpu, digits: 2)) µs"
                + (with.perSegment.isNaN ? "" : ", events per TCP segment \(format(with.perSegment, digits: 1)) / \(format(without.perSegment, digits: 1))"
                   + (floorName(of: stream).flatMap { last[stream + " " + $0] }.map { " / \(format($0.perSegment, digits: 1)) (\(format($0.cpu, digits: 2)) µs)" } ?? ""))
        }.joined(separator: "; "))
    }
    for stream in streams {
        let ratios = percentages(rates(stream + " with"), of: rates(stream + " without"))
        print("plugin: \(stream) stream, median of \(rounds): \(format(median(rates(stream + " with")))) ev/s with the plugin, "
              + "\(format(median(rates(stream + " without")))) without; median ratio \(format(median(ratios), digits: 1)) % "
              + "(\(roundsRange(ratios)); goal ≥ 95 %)")
        // mosquitto's own CPU per event: what the plugin costs its one thread, apart from the machine's noise.
        let with = median(cpu(stream + " with")), without = median(cpu(stream + " without"))
        let cpuRatios = percentages(cpu(stream + " without"), of: cpu(stream + " with"))
        print("plugin: \(stream) stream, mosquitto's CPU per event (median of \(rounds)): \(format(with, digits: 2)) µs with the plugin, "
              + "\(format(without, digits: 2)) µs without; without/with \(format(100 * without / with, digits: 1)) % "
              + "(\(roundsRange(cpuRatios))); user mode \(format(median(series(stream + " with") { $0.user }), digits: 2)) µs "
              + "with, \(format(median(series(stream + " without") { $0.user }), digits: 2)) without; kernel \(format(median(series(stream + " with") { $0.system }), digits: 2)) µs with, "
              + "\(format(median(series(stream + " without") { $0.system }), digits: 2)) without")
        // How the broker's writes to the subscriber were cut into TCP segments: the fewer events per
        // segment, the more the kernel spends per event (each segment crosses loopback on its own).
        let segmented = ["with", "without"] + floors.filter { $0.streams.contains(stream) }.map(\.name)
        let perSegment = segmented.map { name in (name, series(stream + " " + name) { $0.perSegment }.filter { !$0.isNaN }) }
        if perSegment.allSatisfy({ !$0.1.isEmpty }) {
            print("plugin: \(stream) stream, events per TCP segment to the subscriber (median of \(rounds); range): "
                  + perSegment.map { name, values in "\(name) \(format(median(values), digits: 1)) (\(format(values.min()!, digits: 1))–\(format(values.max()!, digits: 1)))" }.joined(separator: ", "))
        }
    }

    // Paced: the raw and player streams at a rate every broker keeps up with, so that no broker is the
    // bottleneck and mosquitto's CPU time per event is each broker's cost at the same load — the
    // capacity the plugin leaves (without/with). Saturated rounds swing by ±15 % on this VM.
    let pacedRate = option("--paced", 50_000)
    if pacedRate > 0 {
        let pacedEvents = pacedRate * option("--paced-seconds", 4)
        let pacedTimeline = try timeline(pacedEvents, rate: pacedRate)
        var paced: [String: [Double]] = [:]
        for round in 1...rounds {
            if fresh { try await restartBrokers() }
            for (name, broker) in order(round) {
                for stream in ["raw", "player"] where takes(name, stream) {
                    let result = if stream == "player" {
                        try await playerStream(broker, pacedTimeline)
                    } else {
                        try await rawStream(broker, bytes, count: pacedEvents, rate: Double(pacedRate))
                    }
                    paced[stream + " " + name, default: []].append(result.cpu)
                }
            }
        }
        for stream in ["raw", "player"] {
            let with = paced[stream + " with"]!, without = paced[stream + " without"]!
            let ratios = percentages(without, of: with)
            var line = "plugin: \(stream) stream paced at \(format(Double(pacedRate))) ev/s: mosquitto's CPU per event (median of \(rounds)) "
                + "\(format(median(with), digits: 2)) µs with the plugin, \(format(median(without), digits: 2)) µs without; capacity without/with "
                + "\(format(median(ratios), digits: 1)) % (\(roundsRange(ratios)); goal ≥ 95 %)"
            if let name = floorName(of: stream), let floor = paced[stream + " " + name] {
                let floorRatios = percentages(without, of: floor)
                line += "; \(floorLabel(name)) \(format(median(floor), digits: 2)) µs, without/\(name) \(format(median(floorRatios), digits: 1)) % "
                    + "(\(roundsRange(floorRatios)))"
            }
            print(line)
        }
    }

    for (floor, stream) in floors.flatMap({ floor in floor.streams.map { (floor, $0) } }) where streams.contains(stream) {
        let key = stream + " " + floor.name
        let floorRatios = percentages(rates(key), of: rates(stream + " without"))
        let aboveFloor = percentages(rates(stream + " with"), of: rates(key))
        print("plugin: \(stream) stream through \(floorLabel(floor.name)) (\(floor.kind)): "
              + "median \(format(median(rates(key)))) ev/s, \(floor.name)/without \(format(median(floorRatios), digits: 1)) % "
              + "(\(roundsRange(floorRatios))); with/\(floor.name) \(format(median(aboveFloor), digits: 1)) % "
              + "(\(roundsRange(aboveFloor))); mosquitto's CPU per event through it "
              + "\(format(median(cpu(key)), digits: 2)) µs")
    }

    // What the stamp's bytes alone cost, with no plugin at all: the broker without it delivering the
    // stamped size (same-size stream) against the unstamped one (raw stream).
    if streams.contains("raw") && streams.contains("same-size") {
        let unstamped = median(cpu("raw without")), stampedSize = median(cpu("same-size without"))
        let bytesRatios = percentages(cpu("raw without"), of: cpu("same-size without"))
        print("plugin: the stamp's \(stampBytes) bytes alone, no plugin: mosquitto's CPU per event \(format(unstamped, digits: 2)) µs "
              + "for \(bytes.count)-byte events, \(format(stampedSize, digits: 2)) µs for \(sameSizeBytes.count)-byte ones; "
              + "ratio \(format(100 * unstamped / stampedSize, digits: 1)) % (\(roundsRange(bytesRatios)))")
        // The plugin's cost apart from the bytes it must add: raw stream with it against the stamped size without.
        let plugged = median(cpu("raw with"))
        print("plugin: raw stream with the plugin against the stamped size without it: CPU without/with \(format(100 * stampedSize / plugged, digits: 1)) %")
    }

    guard !sameBrokers else { return }
    // The plugin's work per routed request, in-process.
    routingCost()

    // No destination: the broker's ErrorResponse, paced at 1,000 requests/s.
    var clients: [DXLClient] = []
    for _ in 0..<2 {
        let client = try DXLClient(config: with.clientConfig())
        try await client.connect()
        clients.append(client)
    }
    let unserved = await load(clients: clients, topic: "/bench/nobody/serves", payload: Array("{}".utf8), concurrency: 8,
                              duration: .seconds(option("--seconds", 5)), paced: 1000, accepting: .errorResponse)
    print("plugin: no destination at a paced 1,000 req/s: \(format(unserved.throughput)) errors/s, p50 \(format(unserved.p50, digits: 3)) ms, "
          + "p99 \(format(unserved.p99, digits: 3)) ms (goal p99 < 1 ms)")
    for client in clients { await client.disconnect() }
}

/// `event` with its payload padded (spaces) or cut so that the whole message is `size` bytes.
func resized(_ event: [UInt8], to size: Int) throws -> [UInt8] {
    var message = try DXLMessageCodec.decode(event, topic: TieTopic.fileDetection)
    for _ in 0..<4 where DXLMessageCodec.encode(message).count != size {
        let change = size - DXLMessageCodec.encode(message).count
        message.payload = change > 0 ? message.payload + Array(repeating: 0x20, count: change) : Array(message.payload.dropLast(min(-change, message.payload.count)))
    }
    return DXLMessageCodec.encode(message)
}

/// Routes requests through a `BrokerCore` with ten services on the topic, as mosquitto would call it:
/// the message check (decode, lookup, stamp, re-encode), then one recipient check per subscriber.
func routingCost() {
    let core = BrokerCore(layout: BrokerLayout(brokers: [.init(guid: "{b1}", hostname: "127.0.0.1", port: 1)]), clock: { 1_700_000_000_000 })
    let topic = TieTopic.getFileReputation
    for index in 0..<10 {
        let client = "service-\(index)"
        core.connected(client, identity: "client", connection: UInt(index + 1))
        core.subscribed(client, to: topic)
        var register = DXLMessage.request(topic: ServiceRegistryTopic.register, payload: #"{"serviceGuid": "{s\#(index)}", "serviceType": "/bench", "requestChannels": ["\#(topic)"]}"#)
        register.replyToTopic = "/mcafee/client/\(client)"
        _ = DXLMessageCodec.encode(register).withUnsafeBytes { core.message(from: client, topic: ServiceRegistryTopic.register, payload: $0) }
    }
    core.connected("requester", identity: "client", connection: 99)
    _ = core.takeActions()
    var request = DXLMessage.request(topic: topic, payload: #"{"hashes": [{"type": "md5", "value": "614rncUYF6CG17l+tSQQqw=="}]}"#)
    request.replyToTopic = "/mcafee/client/requester"
    let bytes = DXLMessageCodec.encode(request)
    let count = option("--routings", 300_000)
    var best = Double.infinity
    var delivered = 0
    let services = (0..<10).map { "service-\($0)" }
    for _ in 0..<3 {
        let start = clock.now
        for _ in 0..<count {
            let verdict = bytes.withUnsafeBytes { core.message(from: "requester", topic: topic, payload: $0) }
            guard case .replace(let routed) = verdict else { continue }
            routed.withUnsafeBytes { buffer in
                for service in services where core.mayRead(service, topic: topic, payload: buffer) { delivered += 1 }
            }
        }
        best = min(best, seconds(clock.now - start) / Double(count) * 1e6)
    }
    // An event: the message check and the stamp (written into a buffer as the glue does), one recipient.
    core.subscribed("service-0", to: TieTopic.fileDetection)
    let event = Seed.detectionMessage
    var eventBest = Double.infinity
    let output = UnsafeMutableRawPointer.allocate(byteCount: event.count + 256, alignment: 8)
    defer { output.deallocate() }
    for _ in 0..<3 {
        let start = clock.now
        for _ in 0..<count {
            event.withUnsafeBytes { buffer in
                let name = TopicName(TieTopic.fileDetection)
                if case .restamp(let range, let clientId, let brokerId) = core.message(from: "requester", topic: name, payload: buffer) {
                    DXLHeader.writeRestamped(buffer, range: range, clientId: clientId, brokerId: brokerId, into: output)
                }
                if core.mayRead("service-0", topic: name, payload: buffer) { delivered += 1 }
            }
        }
        eventBest = min(eventBest, seconds(clock.now - start) / Double(count) * 1e6)
    }
    core.tick()
    print("plugin: an event (message check, stamp, one recipient check), in-process: \(format(eventBest * 1000, digits: 0)) ns per event, best of 3 × \(count)")
    print("plugin: routing a request (message check + ten recipient checks), in-process: \(format(best, digits: 2)) µs per request, best of 3 × \(count) "
          + "(\(delivered == 6 * count ? "each delivered once" : "DELIVERY MISMATCH \(delivered)"))")
}

/// Compiles `floor_plugin.c` (beside this file, with the broker plugin's `fastpath.c`) into `folder` with the `clang` on PATH (the Swift
/// toolchain's, on a machine that builds tiesim); nil, with the reason printed, when that cannot be done
/// (both floors are then left out).
func buildFloorPlugin(in folder: String) -> String? {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let source = here.appendingPathComponent("floor_plugin.c").path
    // The stamp floor scans and stamps with the broker plugin's own C.
    let fastPath = here.appendingPathComponent("../../Sources/DXLBrokerFastPath").standardized
    let output = folder + "/libfloor.so"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let compiler = Process()
    compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    compiler.arguments = ["clang", "-O2", "-shared", "-fPIC", "-I", fastPath.appendingPathComponent("include").path, "-o", output, source,
                          fastPath.appendingPathComponent("fastpath.c").path]
    do {
        try compiler.run()
        compiler.waitUntilExit()
    } catch {
        print("plugin: no floor: could not run clang (\(error))")
        return nil
    }
    guard compiler.terminationStatus == 0 else {
        print("plugin: no floor: clang could not build \(source) (exit \(compiler.terminationStatus))")
        return nil
    }
    return output
}
