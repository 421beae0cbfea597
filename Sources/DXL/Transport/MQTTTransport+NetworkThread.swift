import CMosquitto
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

// The transport's network thread: libmosquitto's read, write and housekeeping steps around poll(2),
// and its own reconnects.
extension MQTTTransport {
    /// One turn of the network loop: what `mosquitto_loop` does, waiting in `poll(2)` instead of
    /// `select(2)` — libmosquitto refuses (MOSQ_ERR_INVAL) a socket numbered 1024 or more there, which a
    /// process with many files open (a test suite running fabrics in parallel) soon has.
    static func loopOnce(_ resources: Resources, timeout: Int32) -> Int32 {
        let handle = resources.handle
        let socket = mosquitto_socket(handle)
        guard socket >= 0 else { return MOSQ_ERR_NO_CONN.rawValue }
        var descriptors = (pollfd(fd: socket, events: Int16(POLLIN) | (mosquitto_want_write(handle) ? Int16(POLLOUT) : 0), revents: 0),
                           pollfd(fd: resources.wakeReader, events: Int16(POLLIN), revents: 0))
        let ready = withUnsafeMutableBytes(of: &descriptors) { poll($0.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, timeout) }
        guard ready >= 0 else {
            return errno == EINTR ? MOSQ_ERR_SUCCESS.rawValue : MOSQ_ERR_ERRNO.rawValue
        }
        if descriptors.1.revents != 0 {
            // Something was queued from another thread: written below. The pipe is drained before the
            // wake-up is taken back: a wake-up taken after the drain leaves its byte in the pipe (the next
            // turn wakes at once), and one whose byte the drain read was set before the take-back — so
            // its packet, queued before that, is written below. (Taken back first, the drain could eat
            // the byte of a newer wake-up and leave it standing with the pipe empty: a lost wake-up.)
            var sink: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            while withUnsafeMutableBytes(of: &sink, { read(resources.wakeReader, $0.baseAddress, $0.count) }) > 0 {}
            resources.wakePending.store(false, ordering: .sequentiallyConsistent)
        }
        if descriptors.0.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            let rc = mosquitto_loop_read(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(handle) < 0 { return rc }
        }
        // What the read's handlers queued (a response to a request, say) is written now, not after another
        // turn of poll: the socket is almost always writable, and a full one just keeps the rest queued.
        if mosquitto_want_write(handle) {
            let rc = mosquitto_loop_write(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(handle) < 0 { return rc }
        }
        return mosquitto_loop_misc(handle)
    }

    /// Runs libmosquitto's network loop on a thread of our own — what `mosquitto_loop_start` does, with our
    /// own recovery: libmosquitto 2.0's `mosquitto_loop_forever` stops reconnecting after some losses (a
    /// killed broker) and only ever reconnects to one broker. After a loss this thread reconnects itself,
    /// first to the same broker, then to the failover targets in turn, waiting 0.25 s, doubling up to the
    /// maximum delay after each failed attempt, until `disconnect()`.
    func startNetworkThread() {
        _ = mosquitto_threaded_set(handle, true)
        // A wake-up left over from an earlier shutdown must not end the new thread's first wait.
        while closeSignal.wait(timeout: .now()) == .success {}
        let stopped = self.loopStopped
        let resources = self.resources
        let initialDelay = 250
        let thread = Thread { [weak self] in
            // Holds the handle until the loop is done, whenever the transport goes.
            resources.loopThread.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
            defer { resources.loopThread.store(0, ordering: .sequentiallyConsistent) }
            while true {
                var rc = MOSQ_ERR_SUCCESS.rawValue
                while rc == MOSQ_ERR_SUCCESS.rawValue {
                    // `closing` is checked on every turn: a reconnect that raced with `shutdown()` must not
                    // keep this loop (and so `shutdown()`, waiting for it) going.
                    guard let self, !self.closingFlag.load(ordering: .relaxed) else { break }
                    // Records OpenSSL has read ahead do not make the socket readable again: while there are
                    // some, the loop only polls the socket (reading and writing what it can), then reads them.
                    let buffered = tiesim_tls_record_buffered(mosquitto_ssl_get(resources.handle)) == 1
                    rc = Self.loopOnce(resources, timeout: buffered ? 0 : 1000)
                    if buffered && rc == MOSQ_ERR_SUCCESS.rawValue && mosquitto_socket(resources.handle) != -1 {
                        rc = mosquitto_loop_read(resources.handle, 1)
                    }
                }
                guard let self, !self.closingFlag.load(ordering: .relaxed) else { break }
                // Backoff grows with the attempts that failed since the broker last accepted us (a CONNACK
                // resets it, not a TCP connect that the broker then drops).
                let failures = self.state.withLock { $0.failures }
                let delay = min(initialDelay << min(failures, 16), Int(self.reconnectDelayMaximum) * 1000)
                self.logger.debug("network loop ended (\(Self.errorText(rc))); reconnecting in \(delay) ms")
                if self.closeSignal.wait(timeout: .now() + .milliseconds(delay)) == .success { break }
                let (target, keepAlive, hasFailover) = self.state.withLock { state -> ((host: String, port: Int), Int, Bool) in
                    // The broker we had first, then the others of the fabric in turn while it stays away.
                    let others = state.failoverTargets.filter { $0.host != state.connectTarget.host || $0.port != state.connectTarget.port }
                    let ring = [state.connectTarget] + others
                    let target = ring[state.failures % ring.count]
                    state.dialled = target
                    return (target, state.keepAlive, !others.isEmpty)
                }
                if self.closingFlag.load(ordering: .relaxed) { break }
                let current = self.currentTarget
                if hasFailover && (target.host != current.host || target.port != current.port) {
                    self.logger.info("trying broker \(target.host):\(target.port) instead of \(current.host):\(current.port)")
                }
                // mosquitto_connect, not mosquitto_reconnect: libmosquitto remembers the host of the last
                // attempt, even a failed one, so only naming the target every time dials the right broker.
                let attempt = mosquitto_connect(resources.handle, target.host, Int32(target.port), Int32(keepAlive))
                if attempt != MOSQ_ERR_SUCCESS.rawValue {
                    self.state.withLock { $0.failures += 1 }
                } else if self.closingFlag.load(ordering: .relaxed) {
                    _ = mosquitto_disconnect(resources.handle)
                    break
                } else {
                    // Connected at the TCP/TLS level; until the CONNACK arrives this counts as a failure, so a
                    // broker that accepts and then drops us is not retried at the shortest delay forever.
                    self.state.withLock { $0.failures += 1 }
                }
            }
            stopped.signal()
        }
        thread.name = "mosquitto loop"
        thread.start()
    }
}

/// What a transport owns in C: freed when the transport and its network thread have both let go.
final class Resources: @unchecked Sendable {
    let handle: OpaquePointer
    let tlsContext: OpaquePointer
    let wakeReader: Int32
    let wakeWriter: Int32
    /// The network thread's pthread id while it runs (0: none).
    let loopThread = Atomic<UInt>(0)
    /// Whether a wake-up is in the pipe that the network thread has not taken yet.
    let wakePending = Atomic<Bool>(false)

    init(handle: OpaquePointer, tlsContext: OpaquePointer, wakeReader: Int32, wakeWriter: Int32) {
        self.handle = handle
        self.tlsContext = tlsContext
        self.wakeReader = wakeReader
        self.wakeWriter = wakeWriter
    }

    /// Whether the caller is the network thread.
    var isLoopThread: Bool { loopThread.load(ordering: .sequentiallyConsistent) == UInt(pthread_self()) }

    deinit {
        mosquitto_destroy(handle)
        SSL_CTX_free(tlsContext)
        close(wakeReader)
        close(wakeWriter)
    }
}

