import DXL
import DXLBroker
import Foundation
import Logging
import Synchronization

/// Why a local broker could not be started.
public enum BrokerError: Error, Sendable, CustomStringConvertible {
    /// The `mosquitto` binary is not installed.
    case mosquittoNotFound(searched: [String])
    /// The DXL broker plugin (`libtiesim-broker.so`) is not where tiesim looks for it.
    case pluginNotFound(searched: [String])
    /// mosquitto exited or did not accept connections in time; `log` is the end of its output.
    case failedToStart(reason: String, log: String)
    /// Writing the configuration failed.
    case configuration(String)

    public var description: String {
        switch self {
        case .mosquittoNotFound(let searched):
            return "mosquitto not found (looked in \(searched.joined(separator: ", "))) — run scripts/setup.sh to install it"
        case .pluginNotFound(let searched):
            return "the DXL broker plugin libtiesim-broker.so was not found (looked in \(searched.joined(separator: ", "))) — build it with `swift build`, put it next to the tiesim binary, or set TIESIM_BROKER_PLUGIN"
        case .failedToStart(let reason, let log):
            return "mosquitto did not start: \(reason)\n--- mosquitto log ---\n\(log)"
        case .configuration(let reason):
            return "could not write the mosquitto configuration: \(reason)"
        }
    }
}

/// A real `mosquitto` process configured like a DXL broker: mutual TLS on loopback with
/// `require_certificate true`, no per-client queue limit that would silently drop QoS 0 events for a slow
/// subscriber, and the DXL broker plugin (`libtiesim-broker.so`: request routing, the registries, broker
/// services, topic authorisation) loaded with this broker's place in its fabric.
///
/// Threading: `start`, `stop` and the accessors may be called from any thread.
public final class LocalBroker: Sendable {
    /// How the broker is set up.
    public struct Options: Sendable {
        /// The address to listen on (loopback unless told otherwise).
        public var host: String = "127.0.0.1"
        /// The port; nil picks a free one.
        public var port: Int?
        /// mosquitto's `max_queued_messages` per client (0: no limit, the default here; stock mosquitto: 1,000).
        public var maxQueuedMessages: Int = 0
        /// Whether mosquitto logs each SUBSCRIBE and UNSUBSCRIBE (`log_type subscribe`), for whoever reads the log
        /// (tiesim itself learns subscriptions from its broker plugin).
        public var logSubscriptions: Bool = true
        /// Extra lines appended to `mosquitto.conf`.
        public var extraConfiguration: [String] = []
        /// Whether the DXL broker plugin is loaded (without it: plain MQTT, clients known by their
        /// certificate's common name as MQTT user name).
        public var dxlBroker: Bool = true
        /// The fabric this broker belongs to, as its plugin sees it (nil: a fabric of this broker alone,
        /// with a new GUID). Its entry for this broker is updated with the port the broker gets.
        public var layout: BrokerLayout?
        /// Topic authorisation, enforced by the plugin (when `layout` is nil).
        public var authorization = TopicAuthorization()
        /// The largest message the broker accepts (the DXL broker's limit is 1 MiB); larger ones
        /// disconnect their sender. 0: mosquitto's own limit.
        public var maxPacketSize: Int = 0
        /// Bridges from this broker to others (see `BrokerNetwork`).
        public var bridges: [Bridge] = []
        /// Whether the broker also takes MQTT over WebSockets (mutual TLS, as DXL brokers offer it): a
        /// `WebSocketListener` in this process on `webSocketPort`, carried to an internal listener of the
        /// broker on 127.0.0.1 that only it may use. Needs the DXL broker plugin.
        public var webSockets: Bool = false
        /// The WebSocket listener's port; nil picks a free one.
        public var webSocketPort: Int?
        public init() {}
    }

    /// A mosquitto bridge from this broker to another broker of the fabric: every topic both ways at QoS 0,
    /// over mutual TLS with the broker's own certificate. mosquitto marks bridge connections (`try_private`)
    /// and never sends a message back over the bridge it came from, so a hub or a chain has no loops.
    public struct Bridge: Sendable, Equatable {
        /// The connection name, also the MQTT client id the remote broker sees.
        public var name: String
        public var host: String
        public var port: Int
        public init(name: String, host: String, port: Int) {
            self.name = name
            self.host = host
            self.port = port
        }
    }

    struct State {
        var process: ChildProcess?
        var port: Int
        var layout: BrokerLayout
        var webSocketListener: WebSocketListener?
        /// The broker's internal listener for the WebSocket listener (0: none yet).
        var internalPort = 0
    }

    /// The internal listener's password, known to the plugin and the WebSocket listener only.
    let proxySecret = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()

    /// The folder with `mosquitto.conf` and `mosquitto.log`.
    public let directory: String
    /// The certificates the broker and its clients use.
    public let certificates: FabricCertificates
    /// The options it was made with.
    public let options: Options
    let state: Mutex<State>
    private let logger: Logger

    /// Prepares a broker whose files go in `directory`, using `certificates`.
    public init(directory: String, certificates: FabricCertificates, options: Options = Options(), logger: Logger = Logger(label: "tiesim.broker")) {
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.certificates = certificates
        self.options = options
        self.logger = logger
        let layout = options.layout ?? BrokerLayout(brokers: [.init(guid: "{" + UUID().uuidString.lowercased() + "}", hostname: options.host, port: options.port ?? 0)],
                                                    authorization: options.authorization)
        self.state = Mutex(State(process: nil, port: options.port ?? 0, layout: layout))
    }

    deinit {
        stop()
    }

    /// The port the broker listens on (valid after `start`).
    public var port: Int { state.withLock { $0.port } }
    /// The port of the WebSocket listener (with `options.webSockets`, after `start`).
    public var webSocketPort: Int? { state.withLock { $0.webSocketListener?.port } }
    /// The path of mosquitto's log.
    public var logPath: String { (directory as NSString).appendingPathComponent("mosquitto.log") }
    /// The path of the fabric layout the plugin reads.
    public var layoutPath: String { (directory as NSString).appendingPathComponent("dxl-broker.json") }
    /// This broker's GUID on the fabric.
    public var guid: String { layout.me.guid }
    /// The layout the plugin is given (this broker's port filled in at start).
    public var layout: BrokerLayout { state.withLock { $0.layout } }
    /// The path of the generated configuration.
    public var configPath: String { (directory as NSString).appendingPathComponent("mosquitto.conf") }
    /// Whether the mosquitto process is running.
    public var isRunning: Bool { state.withLock { $0.process?.isRunning ?? false } }
    /// Whether mosquitto ended without being stopped (killed, crashed): started, not stopped, not running.
    public var hasDied: Bool { state.withLock { $0.process.map { !$0.isRunning } ?? false } }
    /// How the process ended, once it has (exit code, or 128 + signal).
    public var exitStatus: Int32? { state.withLock { $0.process?.terminationStatus } }
    /// The broker's process id while it runs.
    public var processIdentifier: Int32? { state.withLock { $0.process?.isRunning == true ? $0.process?.pid : nil } }


    /// Writes the configuration, starts mosquitto, and returns once it accepts TCP connections
    /// (at most `timeout`). A taken port is retried with another free port when none was asked for.
    public func start(timeout: Duration = .seconds(10)) async throws(BrokerError) {
        let binary = try Self.mosquittoPath()
        let plugin = options.dxlBroker ? try Self.pluginPath() : nil
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .configuration(String(describing: error))
        }
        var taken: BrokerError?
        for _ in 0..<(options.port == nil ? 5 : 1) {
            // Only a port taken in this attempt is worth another port.
            guard case .portTaken(let error) = try await launch(binary: binary, plugin: plugin, port: options.port ?? Self.freePort(), timeout: timeout) else { return }
            taken = error
        }
        throw taken ?? .failedToStart(reason: "unknown", log: "")
    }

    /// What a launch that did not throw came to.
    private enum Launch {
        case started
        /// Something else answers on the port (a port asked for may not be retried with another).
        case portTaken(BrokerError)
    }

    private func launch(binary: String, plugin: String?, port: Int, timeout: Duration) async throws(BrokerError) -> Launch {
        try startWebSocketListener(plugin: plugin)
        do {
            let layout = state.withLock { state in
                state.layout.brokers[state.layout.index].port = port
                state.layout.brokers[state.layout.index].webSocketPort = state.webSocketListener?.port ?? 0
                return state.layout
            }
            try configuration(port: port, plugin: plugin).write(toFile: configPath, atomically: true, encoding: .utf8)
            try (layout.json.serialized(style: .indented(2)) + "\n").write(toFile: layoutPath, atomically: true, encoding: .utf8)
        } catch {
            throw .configuration(String(describing: error))
        }
        let process: ChildProcess
        // The log is appended to: only what this run writes tells whether it started.
        let logStart = ((try? FileManager.default.attributesOfItem(atPath: logPath))?[.size] as? NSNumber)?.uint64Value ?? 0
        do {
            process = try ChildProcess(executable: binary, arguments: ["-c", configPath], outputPath: logPath, diesWithParent: true)
        } catch {
            throw .failedToStart(reason: String(describing: error), log: "")
        }
        state.withLock {
            $0.process = process
            $0.port = port
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let started = Self.logText(logPath, from: logStart)
            // (Read again once mosquitto has exited: it may have written the line just before.)
            if started.contains("Address already in use") || (!process.isRunning && Self.logText(logPath, from: logStart).contains("Address already in use")) {
                // Something else answers on the port: waiting for it to accept would mistake it for mosquitto.
                await endBroker()
                state.withLock { $0.internalPort = 0 }
                return .portTaken(.failedToStart(reason: "port \(port) on \(options.host) is already in use", log: logTail()))
            }
            if !process.isRunning {
                state.withLock { $0.process = nil }
                throw .failedToStart(reason: "mosquitto exited with status \(process.terminationStatus ?? -1)", log: logTail())
            }
            if started.contains(" running"), Self.acceptsConnections(host: options.host, port: port) {
                logger.debug("mosquitto \(process.pid) listening on \(options.host):\(port)")
                return .started
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        await endBroker()
        throw .failedToStart(reason: "not listening on \(options.host):\(port) after \(timeout)", log: logTail())
    }

    /// Starts the WebSocket listener (once: it stays across restarts of mosquitto, so its port does not
    /// change), with an internal port for it, when the options ask for one.
    private func startWebSocketListener(plugin: String?) throws(BrokerError) {
        guard options.webSockets else { return }
        guard plugin != nil else { throw .configuration("WebSockets need the DXL broker plugin") }
        let needed = state.withLock { state -> Bool in
            if state.internalPort == 0 { state.internalPort = Self.freePort() }
            return state.webSocketListener == nil
        }
        guard needed else { return }
        let listener: WebSocketListener
        do {
            listener = try WebSocketListener(host: options.host, port: options.webSocketPort ?? 0, certificate: certificates.brokerCertificate,
                                             key: certificates.brokerKey, clientCA: certificates.caCertificate,
                                             upstreamPort: { [weak self] in self?.state.withLock { $0.internalPort } ?? 0 },
                                             secret: proxySecret, logger: logger)
        } catch {
            throw .failedToStart(reason: "the WebSocket listener did not start: \(error)", log: "")
        }
        state.withLock { $0.webSocketListener = listener }
    }

    /// Stops mosquitto (SIGTERM, then SIGKILL after two seconds) and waits for it to exit, and closes the
    /// WebSocket listener.
    public func stop() {
        stopBroker()
        closeWebSocketListener()
    }

    /// `stop()`, waiting for mosquitto without holding a thread (what tasks call).
    public func shutDown() async {
        await endBroker()
        closeWebSocketListener()
    }

    private func closeWebSocketListener() {
        state.withLock { state in
            defer { state.webSocketListener = nil }
            return state.webSocketListener
        }?.stop()
    }

    /// Stops mosquitto only (an outage, a restart): the WebSocket listener stays, refusing clients
    /// while the broker is down.
    private func stopBroker() {
        takeProcess()?.terminate(grace: 2)
    }

    private func endBroker() async {
        await takeProcess()?.end(grace: 2)
    }

    /// The running process, forgotten here (whoever takes it ends it).
    private func takeProcess() -> ChildProcess? {
        state.withLock { state in
            defer { state.process = nil }
            return state.process
        }
    }

    /// Kills mosquitto at once (SIGKILL), as a crash would, without letting it close connections.
    public func kill() {
        guard let process = takeProcess() else { return }
        process.send(SIGKILL)
        process.wait()
    }

    /// Stops mosquitto for `duration`, then starts it again on the same port (a broker outage).
    public func outage(_ duration: Duration) async throws {
        await endBroker()
        try await Task.sleep(for: duration)
        try await restart()
    }

    /// Restarts mosquitto on the same port (for tests of reconnects).
    /// The port may be held for a moment by someone else's probe for a free port (the kernel hands out a
    /// port just freed): a taken port is tried again for up to `portWait` before the restart fails.
    public func restart(portWait: Duration = .seconds(5)) async throws(BrokerError) {
        let port = self.port
        await endBroker()
        let plugin = options.dxlBroker ? try Self.pluginPath() : nil
        let deadline = ContinuousClock.now + portWait
        while case .portTaken(let error) = try await launch(binary: try Self.mosquittoPath(), plugin: plugin, port: port, timeout: .seconds(10)) {
            guard ContinuousClock.now < deadline else { throw error }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The log's text from byte `offset` on.
    static func logText(_ path: String, from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    /// The last lines of mosquitto's log.
    public func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// A client configuration for this broker using client certificate `client` (see `FabricCertificates`).
    public func clientConfig(client: String = "client") -> DXLClientConfig {
        DXLClientConfig(
            brokerCertChain: certificates.caCertificate,
            certFile: certificates.clientCertificate(client),
            privateKey: certificates.clientKey(client),
            brokers: [DXLBroker(uniqueId: "local", host: options.host, port: port, ipAddress: options.host)],
            webSocketBrokers: webSocketPort.map { [DXLBroker(uniqueId: "local", host: options.host, port: $0, ipAddress: options.host)] } ?? []
        )
    }

}
