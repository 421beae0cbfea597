// Bare libmosquitto clients, the baselines the benchmarks compare against, and what they share.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

/// A bare libmosquitto client with the fabric's client certificate, for the baselines. A subclass sets
/// its callbacks (libmosquitto's user data is the object), then `start` connects and runs libmosquitto's
/// own network thread.
class RawClient: @unchecked Sendable {
    let mosq: OpaquePointer
    /// Its MQTT client id, a GUID in braces as DXL clients' ids are (the broker stamps it on what the
    /// client publishes, so its length is the stamp's).
    let id = "{" + UUID().uuidString.lowercased() + "}"

    init(certificates: FabricCertificates, certificate: String = "client") {
        mosq = mosquitto_new(id, true, nil)!
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
        super.init(certificates: certificates)
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
    /// With `rate`, at that many events/s at most, 16 at a time.
    func publish(bytes: [UInt8], topic: String, count: Int, window: Int? = 5_000, rate: Double? = nil) -> Double {
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
                if let rate, index % 16 == 0 {
                    let due = start + .nanoseconds(Int64(Double(index) / rate * 1e9))
                    let early = due - clock.now
                    if early > .zero { usleep(UInt32(seconds(early) * 1e6)) }
                }
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


/// A raw libmosquitto subscriber counting messages, for the baseline.
final class RawSubscriber: RawClient, @unchecked Sendable {
    let received = Atomic<Int>(0)
    let lastArrival = Mutex<ContinuousClock.Instant?>(nil)
    let ready = Atomic<Int>(0)
    let topic: String

    init(certificates: FabricCertificates, port: Int, topic: String) {
        self.topic = topic
        super.init(certificates: certificates)
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

    /// Data segments its socket has received so far (the kernel's `tcpi_data_segs_in`): how the broker's
    /// writes to it were cut into TCP segments. 0 when the kernel does not say.
    func dataSegmentsIn() -> Int {
        // Linux's `struct tcp_info` (linux/tcp.h; glibc's older copy stops before this field). The kernel
        // only appends to it, so the offset is part of its ABI.
        let dataSegmentsInOffset = 152
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        let socket = mosquitto_socket(mosq)
        guard socket >= 0, info.withUnsafeMutableBytes({ getsockopt(socket, Int32(IPPROTO_TCP), TCP_INFO, $0.baseAddress, &length) }) == 0,
              Int(length) >= dataSegmentsInOffset + 4 else { return 0 }
        return Int(info.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: dataSegmentsInOffset, as: UInt32.self) })
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
        super.init(certificates: certificates, certificate: "tiesim")
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

    func arrived() {
        count.add(1, ordering: .relaxed)
        last.withLock { $0 = clock.now }
    }
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
