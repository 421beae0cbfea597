import DXL
@testable import DXLFabric
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// The client's life cycle at its edges: dropped in its own callback, connected twice at once, a
/// connection lost before a SUBACK, an old attempt's timeout.
@Suite("DXL client life cycle", .timeLimit(.minutes(1)))
struct ClientLifecycleTests {
    final class Holder: @unchecked Sendable {
        var client: DXLClient?
    }

    @Test("a client dropped inside its own callback goes away: its connection is closed, nothing hangs")
    func droppedInCallback() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let holder = Holder()
        let client = try await fabric.connectedClient()
        let id = client.clientId
        let fired = EventInbox<Bool>()
        try await client.addEventCallback(topic: "/lifecycle/drop") { _ in
            holder.client = nil  // the last reference: deinit runs here, on the client's network thread
            fired.append(true)
        }
        holder.client = client
        _ = consume client
        let publisher = try await fabric.connectedClient()
        try publisher.sendEvent(topic: "/lifecycle/drop", payload: Array("x".utf8))
        #expect(await fired.wait(for: 1).count == 1)
        // Its connection was closed (a network thread waiting for itself kept it open for good).
        let disconnected = await eventually(timeout: .seconds(10)) {
            let log = fabric.broker.logTail(lines: 400)
            return log.contains("Client \(id) disconnected") || log.contains("Client \(id) closed its connection")
        }
        #expect(disconnected, "\(fabric.broker.logTail())")
        await publisher.disconnect()
    }

    @Test("two connects at once both return connected; neither is left hanging")
    func concurrentConnects() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let client = try DXLClient(config: fabric.config())
        async let first: Void = client.connect()
        async let second: Void = client.connect()
        _ = try await (first, second)
        #expect(client.isConnected)
        let inbox = EventInbox<Int>()
        try await client.addEventCallback(topic: "/lifecycle/both") { _ in inbox.append(1) }
        // It works: an event from another client reaches it (its own would be dropped as its own).
        let publisher = try await fabric.connectedClient()
        try publisher.sendEvent(topic: "/lifecycle/both", payload: [1])
        #expect(await inbox.wait(for: 1).count == 1)
        await publisher.disconnect()
        await client.disconnect()
    }

    @Test("a subscribe whose connection is lost before the SUBACK fails instead of waiting forever")
    func subscribeThenConnectionLost() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let client = try await fabric.connectedClient()
        let broker = try #require(fabric.broker.processIdentifier)
        kill(broker, SIGSTOP)  // it reads nothing: no SUBACK
        let outcome = Task { () -> String in
            do {
                try await client.addEventCallback(topic: "/lifecycle/never") { _ in }
                return "subscribed"
            } catch {
                return "failed: \(error)"
            }
        }
        // The subscription is on its way (counted before the SUBSCRIBE is queued): then the connection goes.
        #expect(await eventually(timeout: .seconds(5)) { client.subscriptions.contains("/lifecycle/never") })
        kill(broker, SIGKILL)
        let result = await outcome.value
        #expect(result.hasPrefix("failed") && result.contains("not connected"), "\(result)")
        await client.disconnect()
    }

    @Test("a broker restarted on its port waits out a port held for a moment by someone else, and fails if it stays held")
    func restartWaitsForItsPort() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let port = fabric.broker.port
        kill(try #require(fabric.broker.processIdentifier), SIGKILL)
        #expect(await eventually(timeout: .seconds(5)) { fabric.broker.hasDied })
        func hold() -> Int32 {
            let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var reuse: Int32 = 1
            setsockopt(holder, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(bound == 0 && listen(holder, 1) == 0, "could not hold port \(port)")
            return holder
        }
        // Held for 400 ms: the restart tries again and comes back on the same port.
        let holder = hold()
        let release = Task {
            try await Task.sleep(for: .milliseconds(400))
            close(holder)
        }
        try await fabric.broker.restart()
        _ = try await release.value
        #expect(fabric.broker.isRunning && fabric.broker.port == port)
        let client = try await fabric.connectedClient()
        #expect(client.isConnected)
        await client.disconnect()
        // Held throughout: the restart gives up after its wait, saying the port is in use.
        kill(try #require(fabric.broker.processIdentifier), SIGKILL)
        #expect(await eventually(timeout: .seconds(5)) { fabric.broker.hasDied })
        let kept = hold()
        defer { close(kept) }
        await #expect(throws: BrokerError.self) { try await fabric.broker.restart(portWait: .milliseconds(300)) }
    }

    @Test("of two connects at once on one transport, the replaced one fails and the newer one stays connected")
    func transportConnectReplaced() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let transport = try MQTTTransport(clientId: "replaced-\(UUID().uuidString.prefix(8))", tls: fabric.config().tlsFiles,
                                          handlers: .init(message: { _, _ in }))
        // A long connect timeout: the test is about which attempt survives, and a machine that stalls for
        // longer than the default 10 s (it happened once under the full suite) would time the newer one out.
        func attempt() async -> String {
            do { try await transport.connect(host: "127.0.0.1", port: fabric.broker.port, timeout: .seconds(40)); return "ok" } catch { return "\(error)" }
        }
        async let first = attempt()
        async let second = attempt()
        let outcomes = await [first, second]
        #expect(outcomes.contains("ok"), "\(outcomes)")
        // Whichever was replaced did not take the connection down with it (its shutdown would have run
        // before its connect returned).
        #expect(transport.isConnected, "\(outcomes)")
        transport.disconnect()
    }

    @Test("an earlier connect's timeout does not fail a later connect still waiting for its CONNACK")
    func oldTimeoutSparesNewAttempt() async throws {
        // A TLS peer that answers the first client's CONNECT at once and the second's after 2 s: the
        // timing a real broker cannot be asked for.
        let certificates = testCertificates
        let connections = Atomic<Int>(0)
        let peer = try SocketListener(name: "slow CONNACK", host: "127.0.0.1", port: 0,
                                      context: TLSContext(serverCertificate: certificates.brokerCertificate, key: certificates.brokerKey,
                                                          clientCA: certificates.caCertificate),
                                      logger: Logger(label: "test")) { connection in
            let number = connections.add(1, ordering: .relaxed).newValue
            connection.setTimeouts(10)
            var buffer = [UInt8](repeating: 0, count: 1024)
            guard case .bytes = buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) else { return }
            if number > 1 { usleep(2_000_000) }
            connection.write([0x20, 0x02, 0x00, 0x00])
            while case .bytes = buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) {}
        }
        defer { peer.stop() }
        let transport = try MQTTTransport(clientId: "lifecycle-\(UUID().uuidString.prefix(8))",
                                          tls: TLSFiles(caBundle: certificates.caCertificate, certificate: certificates.clientCertificate("client"),
                                                        privateKey: certificates.clientKey("client")),
                                          handlers: .init(message: { _, _ in }))
        try await transport.connect(host: "127.0.0.1", port: peer.port, timeout: .seconds(1))
        transport.disconnect()
        // Within the first attempt's second, a second attempt whose CONNACK takes 2 s of its 10.
        try await transport.connect(host: "127.0.0.1", port: peer.port, timeout: .seconds(10))
        #expect(transport.isConnected)
        transport.disconnect()
    }

    @Test("a request whose task is cancelled ends at once with DXLError.cancelled")
    func requestCancelled() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let service = try await fabric.connectedClient()
        let seen = EventInbox<String>()
        try await service.registerService(ServiceRegistrationInfo(serviceType: "/silent", requestHandlers: ["/lifecycle/silent": { seen.append($0.messageId) }]))
        let requester = try await fabric.connectedClient()
        let started = ContinuousClock.now
        let waiting = Task { () -> String in
            do {
                _ = try await requester.request(.request(topic: "/lifecycle/silent", payload: "x"), timeout: .seconds(60))
                return "answered"
            } catch {
                return "\(error)"
            }
        }
        // Cancelled once the request is on its way (its service has it), not before it was sent.
        #expect(await seen.wait(for: 1).count == 1)
        waiting.cancel()
        let outcome = await waiting.value
        #expect(outcome.contains("cancel"), "\(outcome)")
        #expect(ContinuousClock.now - started < .seconds(5))
        await requester.disconnect()
        await service.disconnect()
    }

    @Test("stopping a broker twice, and once more from a task, is harmless")
    func stopTwice() async throws {
        let fabric = try await TestBroker.start()
        fabric.broker.stop()
        fabric.broker.stop()
        await fabric.broker.shutDown()
        #expect(!fabric.broker.isRunning)
        fabric.stop()
    }
}
