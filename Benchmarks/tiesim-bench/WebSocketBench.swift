import DXLFabric
import Foundation
import Synchronization
import TIE

// MARK: WebSockets

/// `tiesim-bench websockets`: the same event stream read through a broker's TLS listener and through its
/// WebSocket listener (tiesim's WSS listener in front of the broker's internal one). Both readers are the
/// same minimal MQTT subscriber on OpenSSL, differing only in the WebSocket upgrade and framing, so the
/// ratio is the WebSocket path's cost. Goal: WebSocket ≥ 50 % of TLS.
func benchWebSockets() async throws {
    let events = option("--events", 200_000)
    let rounds = option("--rounds", 3)
    let folder = workFolder + "/websockets"
    let certificates = try FabricCertificates.prepare(in: folder + "/certs", clients: ["client", "tiesim"])
    var options = LocalBroker.Options()
    options.webSockets = true
    let broker = LocalBroker(directory: folder + "/broker", certificates: certificates, options: options)
    try await broker.start()
    defer { broker.stop() }
    guard let webSocketPort = broker.webSocketPort else { throw TLSError("no WebSocket listener") }
    let bytes = Seed.detectionMessage

    func rate(webSocket: Bool) throws -> Double {
        let reader = try StreamReader(certificates: certificates, port: webSocket ? webSocketPort : broker.port, webSocket: webSocket,
                                      topic: TieTopic.fileDetection)
        defer { reader.close() }
        let start = clock.now
        let publisher = RawPublisher(certificates: certificates, port: broker.port)
        _ = publisher.publish(bytes: bytes, topic: TieTopic.fileDetection, count: events)
        publisher.close()
        waitForArrivals(events) { reader.received.load(ordering: .relaxed) }
        let last = reader.lastArrival.withLock { $0 } ?? clock.now
        return Double(reader.received.load(ordering: .relaxed)) / seconds(last - start)
    }

    var tls: [Double] = [], webSockets: [Double] = []
    for round in 1...rounds {
        // Taking turns at going first, so that neither always inherits the machine's state.
        if round % 2 == 1 {
            webSockets.append(try rate(webSocket: true))
            tls.append(try rate(webSocket: false))
        } else {
            tls.append(try rate(webSocket: false))
            webSockets.append(try rate(webSocket: true))
        }
        print("websockets: round \(round): \(format(webSockets.last!)) ev/s over WebSockets, \(format(tls.last!)) over TLS "
              + "(\(format(100 * webSockets.last! / tls.last!, digits: 1)) %)")
    }
    let ratios = percentages(webSockets, of: tls)
    print("websockets: median of \(rounds): \(format(median(webSockets))) ev/s over WebSockets, \(format(median(tls))) over TLS; "
          + "median ratio \(format(median(ratios), digits: 1)) % (\(roundsRange(ratios)); goal ≥ 50 %)")
}

/// A minimal MQTT 3.1.1 subscriber on OpenSSL, over plain TLS or over WebSockets: connects with the
/// `client` certificate, subscribes to `topic` and counts the PUBLISH packets on a thread of its own.
final class StreamReader: @unchecked Sendable {
    let received = Atomic<Int>(0)
    let lastArrival = Mutex<ContinuousClock.Instant?>(nil)
    private let connection: SocketConnection
    private let done = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(certificates: FabricCertificates, port: Int, webSocket: Bool, topic: String) throws {
        let context = try TLSContext(clientCertificate: certificates.clientCertificate("client"), key: certificates.clientKey("client"),
                                     ca: certificates.caCertificate)
        connection = try SocketConnection.connect(host: "127.0.0.1", port: port, context: context)
        connection.setTimeouts(1)
        func field(_ text: String) -> [UInt8] { [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xff)] + Array(text.utf8) }
        let connectBody = field("MQTT") + [4, 0x02, 0, 60] + field("bench-reader-\(UUID().uuidString.prefix(8))")
        let subscribeBody: [UInt8] = [0, 1] + field(topic) + [0]
        var packets = BatchedPublisher.packet(0x10, connectBody) + BatchedPublisher.packet(0x82, subscribeBody)
        var pending: [UInt8] = []
        if webSocket {
            connection.write(Array("GET /mqtt HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n".utf8))
            // Up to the blank line; what follows it is the first frame.
            var head: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !head.contains(13) || String(decoding: head, as: UTF8.self).range(of: "\r\n\r\n") == nil {
                guard case .bytes(let count) = chunk.withUnsafeMutableBytes({ connection.read(into: $0) }) else { throw TLSError("no upgrade") }
                head += chunk.prefix(count)
            }
            let text = String(decoding: head, as: UTF8.self)
            guard text.hasPrefix("HTTP/1.1 101"), let end = text.range(of: "\r\n\r\n") else { throw TLSError("upgrade refused: \(text)") }
            pending = Array(head[text.utf8.distance(from: text.startIndex, to: end.upperBound)...])
            let mask: [UInt8] = [7, 7, 7, 7]
            packets = [0x82, 0x80 | UInt8(packets.count)] + mask + packets.map { $0 ^ 7 }
        }
        connection.write(packets)
        let early = pending
        let thread = Thread { [self] in
            read(webSocket: webSocket, pending: early)
            finished.signal()
        }
        thread.start()
        // Subscribed once the SUBACK is counted (received goes to -1 + events, see `read`).
        let deadline = Date().addingTimeInterval(10)
        while received.load(ordering: .relaxed) == 0 && Date() < deadline { usleep(1_000) }
        received.store(0, ordering: .relaxed)
    }

    /// Reads until closed: WebSocket frames (when `webSocket`) around an MQTT stream; counts PUBLISHes.
    private func read(webSocket: Bool, pending: [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var frameLeft = 0            // payload bytes left in the current WebSocket frame
        var frameHeader: [UInt8] = []
        var packetLeft = 0           // bytes left in the current MQTT packet
        var packetHeader: [UInt8] = []
        var subscribed = false
        func mqtt(_ bytes: ArraySlice<UInt8>) {
            var index = bytes.startIndex
            while index < bytes.endIndex {
                if packetLeft > 0 {
                    let take = min(packetLeft, bytes.endIndex - index)
                    packetLeft -= take
                    index += take
                    continue
                }
                packetHeader.append(bytes[index])
                index += 1
                guard case .value(let length, _) = MQTTVariableLength.decode(packetHeader.dropFirst()) else { continue }
                let type = packetHeader[0] >> 4
                packetHeader.removeAll(keepingCapacity: true)
                packetLeft = length
                if type == 3 {
                    received.add(1, ordering: .relaxed)
                } else if type == 9 && !subscribed {
                    subscribed = true
                    received.store(1, ordering: .relaxed)
                }
            }
            lastArrival.withLock { $0 = clock.now }
        }
        func frames(_ bytes: ArraySlice<UInt8>) {
            var index = bytes.startIndex
            while index < bytes.endIndex {
                if frameLeft > 0 {
                    let take = min(frameLeft, bytes.endIndex - index)
                    mqtt(bytes[index..<(index + take)])
                    frameLeft -= take
                    index += take
                    continue
                }
                frameHeader.append(bytes[index])
                index += 1
                guard frameHeader.count >= 2 else { continue }
                let short = Int(frameHeader[1] & 0x7f)
                let needed = short == 126 ? 4 : short == 127 ? 10 : 2
                guard frameHeader.count == needed else { continue }
                frameLeft = short == 126 ? Int(frameHeader[2]) << 8 | Int(frameHeader[3])
                    : short == 127 ? frameHeader[2..<10].reduce(0) { $0 << 8 | Int($1) } : short
                frameHeader.removeAll(keepingCapacity: true)
            }
        }
        let handle = { (bytes: ArraySlice<UInt8>) in webSocket ? frames(bytes) : mqtt(bytes) }
        handle(pending[...])
        while !done.load(ordering: .relaxed) {
            switch buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) {
            case .bytes(let count): handle(buffer[..<count])
            case .again: continue
            case .closed: return
            }
        }
    }

    func close() {
        done.store(true, ordering: .relaxed)
        finished.wait()
        connection.close()
    }
}
