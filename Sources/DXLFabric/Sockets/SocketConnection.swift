import DXL
import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
import Synchronization
#endif

/// Why a TLS listener or connection failed.
package struct TLSError: Error, Sendable, CustomStringConvertible {
    package let description: String
    /// Whether a listener's address was taken.
    package var addressInUse = false
    package init(_ description: String, addressInUse: Bool = false) {
        self.description = description
        self.addressInUse = addressInUse
    }

    /// The oldest error on this thread's OpenSSL queue, after `what`.
    static func openSSL(_ what: String) -> TLSError {
        TLSError("\(what): \(MQTTTransport.openSSLError())")
    }
}

/// An OpenSSL context: the certificate and key a side presents, and whose certificates it accepts.
/// Immutable once made; shared by every connection made with it. Threading: any thread.
package final class TLSContext: @unchecked Sendable {
    let pointer: OpaquePointer

    /// A server context presenting `certificate` (a PEM chain file) and `key`; with `clientCA`, a client
    /// must present a certificate issued by that CA (mutual TLS), or the handshake fails.
    package init(serverCertificate certificate: String, key: String, clientCA: String?) throws(TLSError) {
        guard let context = tiesim_tls_context(TLS_server_method()) else { throw .openSSL("cannot make a TLS context") }
        pointer = context
        try load(certificate: certificate, key: key)
        if let clientCA, tiesim_tls_require_client_certificate(context, clientCA) != 1 {
            throw .openSSL("cannot read the CA certificate \(clientCA)")
        }
    }

    /// A client context presenting `certificate` and `key` (when given) and checking the server's chain
    /// against `ca` (not its host name, as DXL clients do).
    package init(clientCertificate certificate: String?, key: String?, ca: String) throws(TLSError) {
        guard let context = tiesim_tls_context(TLS_client_method()) else { throw .openSSL("cannot make a TLS context") }
        pointer = context
        if let certificate, let key { try load(certificate: certificate, key: key) }
        guard SSL_CTX_load_verify_locations(context, ca, nil) == 1 else { throw .openSSL("cannot read the CA certificate \(ca)") }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
    }

    private func load(certificate: String, key: String) throws(TLSError) {
        guard SSL_CTX_use_certificate_chain_file(pointer, certificate) == 1 else { throw .openSSL("cannot read the certificate \(certificate)") }
        guard SSL_CTX_use_PrivateKey_file(pointer, key, SSL_FILETYPE_PEM) == 1 else { throw .openSSL("cannot read the private key \(key)") }
        guard SSL_CTX_check_private_key(pointer) == 1 else { throw .openSSL("\(key) is not the key of \(certificate)") }
    }

    deinit { SSL_CTX_free(pointer) }
}

/// One connection over a blocking socket whose reads and writes time out (`SO_RCVTIMEO`, `SO_SNDTIMEO`),
/// over TLS or plain TCP: a peer that stops talking or reading ends its connection instead of holding a
/// thread forever. Threading: one thread at a time (OpenSSL's rule for one connection); `shutdown`
/// from any thread, to wake that one.
package final class SocketConnection: @unchecked Sendable {
    /// The socket.
    package let descriptor: Int32
    /// The TLS session; nil for plain TCP.
    private let ssl: OpaquePointer?
    private var closed = false
    /// The common name of the certificate the peer presented (after `handshake`), if any.
    package private(set) var peerCommonName: String?

    /// Wraps the connected socket `descriptor` (owned from now on: `close` closes it), with TLS from
    /// `context`, or plain without one.
    package init(descriptor: Int32, context: TLSContext?) throws(TLSError) {
        self.descriptor = descriptor
        guard let context else {
            ssl = nil
            return
        }
        guard let ssl = SSL_new(context.pointer) else {
            Glibc.close(descriptor)
            throw .openSSL("cannot make a TLS connection")
        }
        self.ssl = ssl
        SSL_set_fd(ssl, descriptor)
    }

    /// Connects to `host:port` and shakes hands as a client (benchmarks and tests).
    package static func connect(host: String, port: Int, context: TLSContext, timeout: TimeInterval = 10) throws(TLSError) -> SocketConnection {
        let descriptor = try Sockets.connect(host: host, port: port)
        let connection = try SocketConnection(descriptor: descriptor, context: context)
        connection.setTimeouts(timeout)
        guard SSL_connect(connection.ssl!) == 1 else {
            let error = TLSError.openSSL("TLS handshake with \(host):\(port) failed")
            connection.close()
            throw error
        }
        return connection
    }

    /// The server's side of the handshake; the peer's certificate was checked against the context's CA.
    /// Nothing to do without TLS.
    package func acceptHandshake() throws(TLSError) {
        guard let ssl else { return }
        guard SSL_accept(ssl) == 1 else { throw .openSSL("TLS handshake failed") }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = tiesim_tls_peer_common_name(ssl, &buffer, Int32(buffer.count))
        if length >= 0 {
            peerCommonName = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// How long a read or a write may wait for the peer before it fails.
    package func setTimeouts(_ seconds: TimeInterval) {
        Sockets.setTimeouts(descriptor, seconds)
    }

    /// Whether decrypted bytes wait in OpenSSL's buffer (a `poll` on the socket would not show them).
    package var hasBufferedInput: Bool { ssl.map { SSL_pending($0) > 0 } ?? false }

    /// What a read gave.
    package enum ReadResult: Equatable {
        case bytes(Int)
        /// Nothing yet (a timeout, or a TLS record without application data); read again later.
        case again
        case closed
    }

    /// Reads what is there (at most `buffer.count` bytes), waiting up to the read timeout.
    package func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        guard !closed, let base = buffer.baseAddress else { return .closed }
        guard let ssl else {
            let count = recv(descriptor, base, buffer.count, 0)
            if count > 0 { return .bytes(count) }
            return count < 0 && (errno == EAGAIN || errno == EINTR) ? .again : .closed
        }
        let count = SSL_read(ssl, base, Int32(min(buffer.count, Int(Int32.max))))
        if count > 0 { return .bytes(Int(count)) }
        let error = SSL_get_error(ssl, count)
        ERR_clear_error()
        return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? .again : .closed
    }

    /// Writes all of `bytes`; false when the peer is gone or did not read within the write timeout.
    @discardableResult
    package func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !closed else { return false }
        guard let ssl else { return Sockets.sendAll(descriptor, bytes) }
        var offset = 0
        while offset < bytes.count {
            let count = SSL_write(ssl, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, 1 << 20)))
            guard count > 0 else {
                ERR_clear_error()
                return false
            }
            offset += Int(count)
        }
        return true
    }

    @discardableResult
    package func write(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { write($0) } }

    /// Wakes a thread blocked on this connection (its read or write fails); the connection is closed
    /// by its own thread.
    package func shutdown() {
        Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Sends TLS's close notice (without waiting for the peer's) and closes the socket.
    package func close() {
        guard !closed else { return }
        closed = true
        if let ssl {
            SSL_shutdown(ssl)
            ERR_clear_error()
            SSL_free(ssl)
        }
        Glibc.close(descriptor)
    }

    deinit { close() }
}

/// Plain socket calls for the TLS listeners and their upstream connections: IPv4, close-on-exec.
package enum Sockets {
    /// The IPv4 address of `host` (a dotted quad, `localhost`, or a name the resolver knows).
    static func address(_ host: String, port: Int) throws(TLSError) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
        let name = host == "localhost" ? "127.0.0.1" : host
        if inet_pton(AF_INET, name, &address.sin_addr) == 1 { return address }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result, let found = first.pointee.ai_addr else {
            throw TLSError("cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        found.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address.sin_addr = $0.pointee.sin_addr }
        return address
    }

    /// Ports this process has handed out: never handed out twice, so a broker that is down for a while
    /// (and whose clients will reconnect to its port) cannot lose its port to another listener started here.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port that was free a moment ago on 127.0.0.1, and that this process has not handed out before.
    package static func freePort() -> Int {
        for _ in 0..<100 {
            let port = kernelFreePort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        return kernelFreePort()
    }

    /// A port the kernel says is free on 127.0.0.1 now (18883 when it cannot say).
    private static func kernelFreePort() -> Int {
        guard var address = try? address("127.0.0.1", port: 0) else { return 18_883 }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return 18_883 }
        defer { Glibc.close(descriptor) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : 18_883
    }

    /// A listening socket on `host:port`; returns it and the port it got. Port 0 takes a port from
    /// `freePort()`, not from the kernel: a port the kernel picks may be one handed out to a broker
    /// that has not bound it yet, and that broker's clients would reach this listener instead.
    package static func listen(host: String, port: Int, backlog: Int32 = 128) throws(TLSError) -> (descriptor: Int32, port: Int) {
        var attempts = port == 0 ? 20 : 1
        while true {
            let chosen = port == 0 ? freePort() : port
            do {
                return try bindAndListen(host: host, port: chosen, backlog: backlog)
            } catch let error where error.addressInUse && attempts > 1 {
                attempts -= 1
            }
        }
    }

    private static func bindAndListen(host: String, port: Int, backlog: Int32) throws(TLSError) -> (descriptor: Int32, port: Int) {
        var address = try address(host, port: port)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TLSError("cannot make a socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && Glibc.listen(descriptor, backlog) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            Glibc.close(descriptor)
            throw TLSError("cannot listen on \(host):\(port): \(String(cString: strerror(code)))", addressInUse: code == EADDRINUSE)
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A connected TCP socket to `host:port` (no Nagle delay).
    package static func connect(host: String, port: Int) throws(TLSError) -> Int32 {
        var address = try address(host, port: port)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TLSError("cannot make a socket: \(String(cString: strerror(errno)))") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw TLSError("cannot connect to \(host):\(port): \(reason)")
        }
        var yes: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        return descriptor
    }

    /// Sets the read and write timeouts of `descriptor`.
    package static func setTimeouts(_ descriptor: Int32, _ seconds: TimeInterval) {
        var time = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes all of `bytes` to a plain socket; false when it failed or timed out.
    package static func sendAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = send(descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }
}
