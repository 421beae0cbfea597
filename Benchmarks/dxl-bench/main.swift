// dxl-bench: the DXL foundation's performance figures, each beside its baseline, measured in one run.
//
//   swift run -c release dxl-bench [--messages N] [--rounds R]
//
// 1. Codec: encode and decode of a detection event with a 400-byte payload, messages/s on one core
//    (goal ≥ 1,000,000/s each).
// 2. End to end: events/s from a DXLClient publisher through a real mosquitto (mutual TLS) to a
//    DXLClient subscriber callback, beside raw libmosquitto pub→sub of the same bytes through the same
//    broker (goal ≥ 90 % of raw).
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Synchronization

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
let messageCount = option("--messages", 200_000)
let rounds = option("--rounds", 3)
let codecIterations = option("--codec-iterations", 2_000_000)

// A detection event as the seed sample sends it, padded to a 400-byte payload.
var detectionJSON = #"{"agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "detectionTime": 1481301796, "hashes": [{"type": "md5", "value": "614rncUYF6CG17l+tSQQqw=="}, {"type": "sha1", "value": "Q139Rw9ydDfHy08Hy6H5ofQnJlY="}, {"type": "sha256", "value": "QUuxaxDs4tsthEjLnzE/gMt3wxDKDBnuA8c8ugwW/ts="}], "localReputation": 1, "name": "FOCUS_MALWARE2.EXE", "remediationAction": 5"#
detectionJSON += ", \"pad\": \"" + String(repeating: "x", count: 400 - detectionJSON.utf8.count - 12) + "\"}"
let payload = Array(detectionJSON.utf8)
precondition(payload.count == 400, "payload is \(payload.count) bytes")
let topic = "/mcafee/event/tie/file/detection"
let event = DXLMessage.event(topic: topic, payload: payload)
let encoded = DXLMessageCodec.encode(event)

func rate(_ count: Int, _ elapsed: Duration) -> Double {
    Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

func format(_ value: Double) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = 0
    return formatter.string(from: NSNumber(value: value)) ?? String(value)
}

print("dxl-bench: payload \(payload.count) bytes, message \(encoded.count) bytes")

// MARK: Codec
let clock = ContinuousClock()
var sink = 0
var best = (encode: 0.0, decode: 0.0)
for _ in 0..<rounds {
    let start = clock.now
    for _ in 0..<codecIterations {
        sink &+= DXLMessageCodec.encode(event).count
    }
    best.encode = max(best.encode, rate(codecIterations, clock.now - start))
    let decodeStart = clock.now
    for _ in 0..<codecIterations {
        sink &+= (try? DXLMessageCodec.decode(encoded))?.payload.count ?? 0
    }
    best.decode = max(best.decode, rate(codecIterations, clock.now - decodeStart))
}
print("codec encode: \(format(best.encode)) msg/s  (goal ≥ 1,000,000)")
print("codec decode: \(format(best.decode)) msg/s  (goal ≥ 1,000,000)")

// MARK: End to end
let folder = NSTemporaryDirectory() + "dxl-bench-\(getpid())"
let certificates = try FabricCertificates.prepare(in: folder + "/certs", clients: ["pub", "sub"])
let broker = LocalBroker(directory: folder + "/broker", certificates: certificates)
try await broker.start()
defer {
    broker.stop()
    try? FileManager.default.removeItem(atPath: folder)
}

/// Raw libmosquitto: one publisher and one subscriber, both with loop_start, same TLS files.
final class RawCounter: @unchecked Sendable {
    let received = Atomic<Int>(0)
    let connected = Atomic<Bool>(false)
    let subscribed = Atomic<Bool>(false)
}

func rawClient(_ name: String, counter: RawCounter) -> OpaquePointer {
    let mosq = mosquitto_new("raw-\(name)-\(UUID())", true, Unmanaged.passUnretained(counter).toOpaque())!
    mosquitto_tls_set(mosq, certificates.caCertificate, nil, certificates.clientCertificate(name), certificates.clientKey(name), nil)
    mosquitto_tls_insecure_set(mosq, true)
    mosquitto_max_inflight_messages_set(mosq, 0)
    mosquitto_connect_callback_set(mosq) { _, userdata, _ in
        Unmanaged<RawCounter>.fromOpaque(userdata!).takeUnretainedValue().connected.store(true, ordering: .releasing)
    }
    mosquitto_subscribe_callback_set(mosq) { _, userdata, _, _, _ in
        Unmanaged<RawCounter>.fromOpaque(userdata!).takeUnretainedValue().subscribed.store(true, ordering: .releasing)
    }
    mosquitto_message_callback_set(mosq) { _, userdata, _ in
        Unmanaged<RawCounter>.fromOpaque(userdata!).takeUnretainedValue().received.add(1, ordering: .relaxed)
    }
    mosquitto_connect(mosq, "127.0.0.1", Int32(broker.port), 60)
    mosquitto_loop_start(mosq)
    while !counter.connected.load(ordering: .acquiring) { usleep(1000) }
    return mosq
}

func waitFor(_ count: Int, _ counter: () -> Int, timeout: Duration = .seconds(60)) -> Int {
    let deadline = clock.now + timeout
    var last = -1
    var lastChange = clock.now
    while counter() < count && clock.now < deadline {
        let now = counter()
        if now != last { last = now; lastChange = clock.now }
        if clock.now - lastChange > .seconds(3) { break }  // nothing more is coming: count what arrived
        usleep(200)
    }
    return counter()
}

func runRaw() -> (Double, Int) {
    let subCounter = RawCounter()
    let pubCounter = RawCounter()
    let sub = rawClient("sub", counter: subCounter)
    mosquitto_subscribe(sub, nil, topic, 0)
    while !subCounter.subscribed.load(ordering: .acquiring) { usleep(1000) }
    let pub = rawClient("pub", counter: pubCounter)
    let start = clock.now
    encoded.withUnsafeBytes { bytes in
        for _ in 0..<messageCount {
            mosquitto_publish(pub, nil, topic, Int32(bytes.count), bytes.baseAddress, 0, false)
        }
    }
    let got = waitFor(messageCount) { subCounter.received.load(ordering: .relaxed) }
    let elapsed = clock.now - start
    for mosq in [pub, sub] {
        mosquitto_disconnect(mosq)
        mosquitto_loop_stop(mosq, false)
        mosquitto_destroy(mosq)
    }
    return (rate(got, elapsed), got)
}

func runDXL() async throws -> (Double, Int) {
    let received = Atomic<Int>(0)
    let box = AtomicBox(received)
    let subscriber = try DXLClient(config: broker.clientConfig(client: "sub"))
    try await subscriber.connect()
    try await subscriber.addEventCallback(topic: topic) { message in
        if message.payload.count == 400 { box.increment() }
    }
    let publisher = try DXLClient(config: broker.clientConfig(client: "pub"))
    try await publisher.connect()
    let start = clock.now
    for _ in 0..<messageCount {
        try publisher.sendEvent(topic: topic, payload: payload)
    }
    let got = waitFor(messageCount) { box.value }
    let elapsed = clock.now - start
    await publisher.disconnect()
    await subscriber.disconnect()
    return (rate(got, elapsed), got)
}

final class AtomicBox: @unchecked Sendable {
    private let counter = Atomic<Int>(0)
    init(_: borrowing Atomic<Int>) {}
    func increment() { counter.add(1, ordering: .relaxed) }
    var value: Int { counter.load(ordering: .relaxed) }
}

var rawRates: [Double] = []
var dxlRates: [Double] = []
for round in 1...rounds {
    let (raw, rawGot) = runRaw()
    let (dxl, dxlGot) = try await runDXL()
    rawRates.append(raw)
    dxlRates.append(dxl)
    print("round \(round): raw libmosquitto \(format(raw)) ev/s (\(rawGot)/\(messageCount) delivered), DXLClient \(format(dxl)) ev/s (\(dxlGot)/\(messageCount) delivered)")
}
let rawMedian = rawRates.sorted()[rawRates.count / 2]
let dxlMedian = dxlRates.sorted()[dxlRates.count / 2]
print("end to end (median of \(rounds)): raw libmosquitto \(format(rawMedian)) ev/s, DXLClient \(format(dxlMedian)) ev/s = \(String(format: "%.1f", 100 * dxlMedian / rawMedian)) % of raw  (goal ≥ 90 %)")
if sink == 42 { print("") }
