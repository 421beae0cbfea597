import ArgumentParser
import DXL
import DXLFabric
import DXLBroker
import Dispatch
import Foundation
import TIESimulator

/// `tiesim up`: the main job.
struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring up a fake TIE fabric (mosquitto, fabric services, fake TIE) and play scenarios.",
        discussion: """
        Creates or reuses certificates in the state directory, writes DIR/dxlclient.config (usable unchanged \
        by the Python dxlclient), starts mosquitto and everything tiesim serves, prints one line containing \
        'ready' and the config's path once clients can connect (and writes the same line to DIR/ready), plays \
        the scenarios' timelines, and keeps running until SIGINT or SIGTERM, then stops everything it started. \
        A second signal ends it at once.
        """
    )

    @Argument(help: "Scenario files: what TIE knows and the events to play.")
    var scenarios: [String] = []

    @Option(name: .long, help: "Folder for certificates, broker files and dxlclient.config.")
    var stateDir: String = ".tiesim"

    @Option(name: .long, help: "Broker port (default: a free port).")
    var port: Int?

    @Option(name: .long, help: "Address the brokers listen on (0.0.0.0 for all interfaces, e.g. in a container).")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "The host name clients must use, written into the dxlclient.config files (default: --host).")
    var advertiseHost: String?

    @Option(name: .long, help: "The IP address written after that host name; clients try it when the name does not resolve (default: the host name).")
    var advertiseIp: String?

    @Option(name: .long, help: "How many mosquitto brokers, joined by bridges (default: the scenarios' fabric:, else 1).")
    var brokers: Int?

    @Option(name: .long, help: "How the brokers are bridged: hub (2…N to broker 1) or chain (K to K-1).")
    var topology: BrokerNetwork.Topology?

    @Flag(name: .long, help: "Exit once the timelines are played instead of waiting for a signal.")
    var exitWhenDone = false

    @Option(name: .long, parsing: .upToNextOption, help: "Topic authorisation: only these client certificates may send set-reputation requests (default: all).")
    var authorizeSet: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Client certificates to make (the first is used by DIR/dxlclient.config; each gets DIR/dxlclient-NAME.config).")
    var clients: [String] = ["client"]

    @Option(name: .long, parsing: .upToNextOption, help: "Client certificates that may drive the fabric over DXL (/tiesim/control/…; default: the first of --clients).")
    var controllers: [String] = []

    @Option(name: .long, help: "Port of the HTTP control API (default: a free port).")
    var httpPort: Int?

    @Option(name: .long, help: "Address the HTTP control API listens on (0.0.0.0 in a container).")
    var httpHost: String = "127.0.0.1"

    @Flag(name: .long, help: "Do not start the HTTP control API (control stays available over DXL under /tiesim/control/).")
    var noHttp = false

    @Option(name: .long, help: "The most TIE requests per second the fake TIE serves one client; more are shed unanswered, so that a flooding client cannot slow the others (0: no limit).")
    var maxRequestRate: Double = 2_000

    @Flag(name: .long, help: "Run the broker services only, without the fake TIE (for suites that register their own TIE service).")
    var noTie = false

    @Option(name: .long, help: ArgumentHelp("Topic authorisation: only these client certificates may send on TOPIC (a trailing # covers the topics below); repeatable.", valueName: "TOPIC=CLIENT,CLIENT…"))
    var allowSend: [String] = []

    @Option(name: .long, help: ArgumentHelp("Topic authorisation: only these client certificates receive what is sent on TOPIC; repeatable.", valueName: "TOPIC=CLIENT,CLIENT…"))
    var allowReceive: [String] = []

    @Option(name: .long, help: "Port of the client provisioning service (HTTPS, as ePO's: dxlclient provisionconfig/updateconfig; 0: a free port; default: none).")
    var managementPort: Int?

    @Option(name: .long, help: "User name the provisioning service accepts (with --management-port).")
    var managementUser: String?

    @Option(name: .long, help: "Password the provisioning service accepts (with --management-port).")
    var managementPassword: String?

    @Option(name: .long, help: "Port of broker 1's WebSocket listener (default: a free port).")
    var websocketPort: Int?

    @Flag(name: .long, help: "Do not start WebSocket listeners ([BrokersWebSockets] stays empty).")
    var noWebsockets = false

    @OptionGroup var reports: ReportOptions

    @OptionGroup var global: GlobalOptions

    /// Rules from `TOPIC=CLIENT,CLIENT` arguments; tiesim's own clients may always send and receive.
    static func authorization(send: [String], receive: [String]) throws -> TopicAuthorization {
        func rules(_ arguments: [String], _ option: String) throws -> [TopicAuthorization.Rule] {
            try arguments.map { argument in
                let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0].hasPrefix("/") || parts[0] == "#" else {
                    throw ValidationError("--\(option) takes TOPIC=CLIENT,CLIENT… (a topic starting with /), not '\(argument)'")
                }
                let clients = parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                return .init(topic: parts[0], clients: Set(clients))
            }
        }
        return TopicAuthorization(send: try rules(send, "allow-send"), receive: try rules(receive, "allow-receive"))
    }

    func validate() throws {
        if let brokers, !(1...16).contains(brokers) { throw ValidationError("--brokers must be from 1 to 16, not \(brokers)") }
        try validatePort(port, option: "port")
        try validatePort(httpPort, option: "http-port", zeroForFree: true)
        try validatePort(websocketPort, option: "websocket-port")
        try validatePort(managementPort, option: "management-port", zeroForFree: true)
        if managementPort != nil {
            guard let managementUser, !managementUser.isEmpty, let managementPassword, !managementPassword.isEmpty else {
                throw ValidationError("--management-port needs --management-user and --management-password: the credentials dxlclient provisionconfig is given with -u and -p")
            }
        } else if managementUser != nil || managementPassword != nil {
            throw ValidationError("--management-user and --management-password need --management-port, the provisioning service's port")
        }
        if !maxRequestRate.isFinite || maxRequestRate < 0 || maxRequestRate > 1e9 {
            throw ValidationError("--max-request-rate must be a number of requests per second from 0 (no limit) to 1000000000, not \(maxRequestRate)")
        }
        if clients.isEmpty { throw ValidationError("--clients needs at least one client certificate name") }
        for name in clients + authorizeSet + controllers where name.isEmpty || name.count > 64 || !name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) || name.hasPrefix(".") {
            throw ValidationError("'\(name)' cannot name a client certificate: use letters, digits, '-', '_' and '.' (at most 64, not starting with '.')")
        }
    }

    func run() async throws {
        global.bootstrap()
        let loaded = try loadScenarios(scenarios)
        var options = SimulatedFabric.Options(stateDirectory: stateDir)
        options.port = port
        options.host = host
        options.advertisedHost = advertiseHost ?? (host == "0.0.0.0" ? "127.0.0.1" : nil)
        options.advertisedAddress = advertiseIp
        options.controlHTTPHost = httpHost
        options.requestRateLimitPerClient = maxRequestRate
        options.brokers = brokers
        options.topology = topology
        options.scenarios = loaded
        options.runsTie = !noTie
        options.authorization = try Self.authorization(send: allowSend, receive: allowReceive)
        options.controlHTTPPort = noHttp ? nil : (httpPort ?? 0)
        options.clients = clients
        if !controllers.isEmpty { options.controllers = controllers }
        if !authorizeSet.isEmpty { options.authorizedSetters = authorizeSet }
        options.webSockets = !noWebsockets
        options.webSocketPort = websocketPort
        if let managementPort, let managementUser, let managementPassword {
            options.management = .init(host: host, port: managementPort, user: managementUser, password: managementPassword)
        }
        let signals = SignalWaiter()
        let fabric: SimulatedFabric
        do {
            fabric = try await SimulatedFabric.start(options)
        } catch let error as BrokerError {
            printError("tiesim: \(error)")
            throw Exit.environment
        } catch let error as SimulatedFabric.StartError {
            printError("tiesim: \(error)")
            throw Exit.environment
        } catch {
            printError("tiesim: could not start the fabric: \(error)")
            throw Exit.environment
        }
        let controlURL = fabric.http.map { "; control API http://\(httpHost == "0.0.0.0" ? "127.0.0.1" : httpHost):\($0.port)" } ?? ""
        let shownHost = options.advertisedHost ?? host
        let others = fabric.network.brokers.dropFirst().map { "\(shownHost):\($0.port)" }
        let more = others.isEmpty ? "" : "; bridged (\(fabric.network.topology.rawValue)) to \(others.joined(separator: ", "))"
        let webSockets = fabric.broker.webSocketPort.map { "; WebSockets \(shownHost):\($0)" } ?? ""
        let management = fabric.managementPort.map { "; provisioning https://\(shownHost):\($0)" } ?? ""
        let ready = "tiesim ready: clients connect with \(fabric.clientConfigPath) (broker \(shownHost):\(fabric.broker.port)\(more)\(webSockets)\(controlURL)\(management))"
        // DIR/ready holds the same line while the fabric is up: scripts and health checks can wait for it.
        let readyPath = (fabric.options.stateDirectory as NSString).appendingPathComponent("ready")
        try? (ready + "\n").write(toFile: readyPath, atomically: true, encoding: .utf8)
        // A `ready` that outlives tiesim would tell scripts a dead fabric is up. A small guard process the
        // kernel signals when tiesim dies, however it dies (SIGKILL included), removes it then.
        let readyGuard = try? ChildProcess(executable: "/bin/sh", arguments: [
            "-c", "trap 'rm -f \"$0\"; kill $! 2>/dev/null; exit 0' TERM; while :; do sleep 3600 & wait $!; done", readyPath,
        ], outputPath: nil, diesWithParent: true, deathSignal: "TERM")
        printLine(ready)
        let player = Task { () -> Bool in
            var steps: [ScenarioPlayer.StepResult] = []
            var playError: String?
            do {
                steps = try await fabric.player(progress: progressPrinter).play(loaded)
                if !loaded.isEmpty {
                    printLine("tiesim timeline done: \(steps.reduce(0) { $0 + $1.sent }) events in \(steps.count) steps")
                }
            } catch is CancellationError {
                return true
            } catch {
                printError("tiesim: \(error)")
                playError = String(describing: error)
            }
            guard exitWhenDone else { return playError == nil }
            return await reports.finish(loaded, steps: steps, playError: playError, journal: fabric.journal)
        }
        var succeeded = true
        var interruptedBy: Int32?
        if exitWhenDone {
            // Whichever comes first: the run's end, or a signal (which ends the run unfinished: not a success).
            let first = await withTaskGroup(of: (Bool?, Int32?).self) { group in
                group.addTask { (await player.value, nil) }
                group.addTask { (nil, await signals.wait()) }
                let first = await group.next() ?? (nil, nil)
                // A signal first ends the run unfinished; the group then waits for its children, the
                // player's too, so the player must stop now.
                player.cancel()
                group.cancelAll()
                return first
            }
            succeeded = first.0 ?? false
            interruptedBy = first.1
        } else {
            _ = await signals.wait()
        }
        player.cancel()
        _ = await player.value
        try? FileManager.default.removeItem(atPath: readyPath)  // not ready any more while shutting down
        await readyGuard?.end(grace: 1)
        await fabric.stop()
        printError("tiesim: stopped")
        if !exitWhenDone, reports.junit != nil || reports.journal != nil || reports.report != nil {
            _ = await reports.finish(loaded, steps: [], playError: nil, journal: fabric.journal)
        }
        if let interruptedBy {
            printError("tiesim: stopped by \(SignalWaiter.name(interruptedBy)) before the run was done")
            throw ExitCode(128 + interruptedBy)
        }
        if !succeeded { throw Exit.failure }
    }
}

/// Waits for SIGINT, SIGTERM or SIGHUP (handled, not fatal, so tiesim can stop what it started; a closed
/// terminal's SIGHUP stops it like SIGTERM).
///
/// A plain `sigaction` handler replaces the default action in one step, so there is no moment in which a
/// signal is ignored and lost (as there was between `signal(SIG_IGN)` and a dispatch source). The handler
/// only writes the signal number to a pipe (async-signal-safe); a thread of our own reads it and wakes the
/// waiters. Dispatch's threads block these signals; the kernel delivers them to a thread that does not.
final class SignalWaiter: @unchecked Sendable {
    private let lock = NSLock()
    private var fired: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    /// The signals that stop tiesim.
    static let stopping = [SIGINT, SIGTERM, SIGHUP]

    /// A signal's name, for messages.
    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }

    /// The pipe's write end, for the handler (set once, before the handler is installed).
    nonisolated(unsafe) private static var writeEnd: Int32 = -1
    private static let installed = NSLock()
    nonisolated(unsafe) private static var instance: SignalWaiter?

    init() {
        Self.installed.lock()
        defer { Self.installed.unlock() }
        Self.instance = self  // before the handler exists, so that no signal finds nobody to wake
        if Self.writeEnd < 0 {
            var fds: [Int32] = [-1, -1]
            // Close-on-exec (mosquitto and other children must not inherit it); the handler's write never blocks.
            guard pipe(&fds) == 0 else { fatalError("tiesim: cannot create a pipe for signals: \(String(cString: strerror(errno)))") }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
            Self.writeEnd = fds[1]
            let readEnd = fds[0]
            let reader = Thread {
                var byte: UInt8 = 0
                while read(readEnd, &byte, 1) == 1 {
                    Self.installed.lock()
                    let waiter = Self.instance
                    Self.installed.unlock()
                    waiter?.fire(Int32(byte))
                }
            }
            reader.name = "tiesim signals"
            reader.start()
            for signalNumber in Self.stopping {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = { signalNumber in
                    let saved = errno
                    var byte = UInt8(truncatingIfNeeded: signalNumber)
                    _ = write(SignalWaiter.writeEnd, &byte, 1)
                    errno = saved
                }
                sigemptyset(&action.sa_mask)
                // SA_RESETHAND: the first signal asks tiesim to stop what it started; a second one (Ctrl-C
                // again) ends it at once, should stopping ever hang.
                action.sa_flags = SA_RESTART | Int32(bitPattern: UInt32(SA_RESETHAND))
                sigaction(signalNumber, &action, nil)
            }
            // Let this thread take the signals even if it inherited a mask that blocks them.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            for signalNumber in Self.stopping { sigaddset(&unblock, signalNumber) }
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        }
    }

    private func fire(_ signal: Int32) {
        lock.lock()
        if fired == nil { fired = signal }
        let signal = fired ?? signal
        let pending = waiters
        waiters.removeAll()
        lock.unlock()
        for waiter in pending { waiter.resume(returning: signal) }
    }

    /// Waits for a stopping signal and returns it (0 when the wait was cancelled).
    @discardableResult
    func wait() async -> Int32 {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                lock.lock()
                if let fired {
                    lock.unlock()
                    continuation.resume(returning: fired)
                } else if Task.isCancelled {
                    // Cancelled before it waited: the handler ran already and found no waiter to wake.
                    lock.unlock()
                    continuation.resume(returning: 0)
                } else {
                    waiters.append(continuation)
                    lock.unlock()
                }
            }
        } onCancel: {
            // Wakes the waiter without recording a signal.
            lock.lock()
            let pending = waiters
            waiters.removeAll()
            lock.unlock()
            for waiter in pending { waiter.resume(returning: 0) }
        }
    }
}

extension BrokerNetwork.Topology: ExpressibleByArgument {}
