import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A listener: accepts connections on one thread and serves each on a thread of its own, after the TLS
/// handshake when it has a TLS context (which, when it demands client certificates, refuses any
/// certificate not issued by the fabric's CA), or over plain TCP without one.
///
/// Bounded: at most `maxConnections` at once (more are closed at once, and logged); a handshake must
/// finish within `handshakeTimeout`; when the process runs out of descriptors, accepting pauses and
/// resumes (logged once) instead of ending. `stop` closes the listener and every connection, without
/// waiting for their threads. Threading: any thread.
package final class SocketListener: Sendable {
    /// The port it listens on.
    package let port: Int
    private let descriptor: Int32
    private let name: String
    private let logger: Logger
    private let state = Mutex<State>(State())

    private struct State {
        var stopped = false
        var next = 0
        var connections: [Int: SocketConnection] = [:]
    }

    /// Starts listening on `host:port` (0: a free port); `serve` runs on each connection's own thread
    /// after a successful handshake, and the connection is closed when it returns.
    package init(name: String, host: String, port: Int, context: TLSContext?, maxConnections: Int = 256,
                 handshakeTimeout: TimeInterval = 10, logger: Logger, serve: @escaping @Sendable (SocketConnection) -> Void) throws(TLSError) {
        // A peer that goes away mid-write must fail that write, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let (descriptor, boundPort) = try Sockets.listen(host: host, port: port)
        self.descriptor = descriptor
        self.port = boundPort
        self.name = name
        self.logger = logger
        let thread = Thread { [self] in
            acceptLoop(context: context, maxConnections: maxConnections, handshakeTimeout: handshakeTimeout, serve: serve)
            // Closed here, by the thread that polls it, so that the descriptor cannot be reused under it.
            Glibc.close(descriptor)
        }
        thread.name = "tiesim \(name)"
        thread.start()
    }

    private func acceptLoop(context: TLSContext?, maxConnections: Int, handshakeTimeout: TimeInterval,
                            serve: @escaping @Sendable (SocketConnection) -> Void) {
        var exhausted = false
        while !state.withLock({ $0.stopped }) {
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 200) > 0 else { continue }
            // (No accept4 in Swift's Glibc; children are spawned with every descriptor above 2 closed anyway.)
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else {
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    if !exhausted { logger.error("\(name): out of file descriptors; not accepting for now") }
                    exhausted = true
                    usleep(100_000)
                }
                continue
            }
            if exhausted {
                logger.notice("\(name): accepting connections again")
                exhausted = false
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var yes: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            let connection: SocketConnection
            do {
                connection = try SocketConnection(descriptor: client, context: context)
            } catch {
                logger.error("\(name): \(error)")
                continue
            }
            let key: Int? = state.withLock { state in
                guard !state.stopped, state.connections.count < maxConnections else { return nil }
                state.next += 1
                state.connections[state.next] = connection
                return state.next
            }
            guard let key else {
                logger.warning("\(name): \(maxConnections) connections open already; refused one")
                connection.close()
                continue
            }
            let thread = Thread { [self] in
                defer {
                    state.withLock { _ = $0.connections.removeValue(forKey: key) }
                    connection.close()
                }
                connection.setTimeouts(handshakeTimeout)
                do {
                    try connection.acceptHandshake()
                } catch {
                    logger.info("\(name): refused a connection: \(error)")
                    return
                }
                serve(connection)
            }
            thread.name = "tiesim \(name) connection"
            thread.start()
        }
    }

    /// Stops accepting and ends every connection, without waiting: the threads see it at once (their
    /// sockets are shut down) and close what they hold. Safe to call from a task: it never blocks.
    package func stop() {
        let first = state.withLock { state in
            guard !state.stopped else { return false }
            state.stopped = true
            // Under the lock: a connection leaves the table before its thread closes its socket, so the
            // descriptor shut down here is still that connection's.
            for connection in state.connections.values { connection.shutdown() }
            return true
        }
        guard first else { return }
        // Wakes the accepting thread's poll; it closes the descriptor as it leaves.
        Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }
}
