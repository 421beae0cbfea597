import DXL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with a clean signal mask and default signal actions,
/// that inherits no file descriptor but its stdin, stdout and stderr, and (on Linux) dies with us.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and Dispatch's worker threads
/// block SIGTERM and SIGINT: a mosquitto started from one never sees SIGTERM and cannot be stopped
/// cleanly. This type resets both, puts the child in its own process group (so a terminal's Ctrl-C
/// reaches us, and we stop the child in order), and sends its output to a file.
///
/// Nothing left behind: descriptors from 3 up are closed in the child (a mosquitto that inherited the
/// state directory's lock kept it after tiesim was killed), and with `diesWithParent` the child is
/// started through `setpriv --pdeathsig KILL`, so the kernel kills it when tiesim dies, however tiesim
/// dies. The parent-death signal follows the thread that spawned the child, so every child is spawned
/// from one thread that lives as long as the process.
/// Threading: any thread; `wait` blocks the calling thread.
public final class ChildProcess: @unchecked Sendable {
    /// The child's process id.
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?
    /// The write end of the child's stdin, when one was asked for.
    public let standardInput: FileHandle?

    /// Starts `executable` with `arguments`; stdout and stderr are appended to `outputPath`
    /// (or discarded), stdin is a pipe when `pipeStandardInput`, else /dev/null.
    /// With `diesWithParent`, the kernel sends the child `deathSignal` (KILL unless told, e.g. TERM for a
    /// child that cleans up) when this process dies.
    public convenience init(executable: String, arguments: [String], outputPath: String?, pipeStandardInput: Bool = false,
                            environment: [String: String]? = nil, diesWithParent: Bool = false, deathSignal: String = "KILL") throws {
        var executable = executable
        var arguments = arguments
        if diesWithParent, FileManager.default.isExecutableFile(atPath: Self.setpriv) {
            arguments = ["--pdeathsig", deathSignal, "--", executable] + arguments
            executable = Self.setpriv
        }
        let spawned = try Spawner.shared.run { () throws(ChildProcessError) -> (pid_t, Int32) in
            try Self.spawn(executable: executable, arguments: arguments, outputPath: outputPath, pipeStandardInput: pipeStandardInput, environment: environment)
        }
        self.init(pid: spawned.0, standardInput: spawned.1)
    }

    private init(pid: pid_t, standardInput: Int32) {
        self.pid = pid
        self.standardInput = standardInput >= 0 ? FileHandle(fileDescriptor: standardInput, closeOnDealloc: true) : nil
    }

    /// util-linux's `setpriv` (Debian: always installed), which sets the parent-death signal and execs.
    static let setpriv = "/usr/bin/setpriv"

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; not in Swift's Glibc module).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Spawns the child; returns its pid and the write end of its stdin pipe (-1 without one).
    private static func spawn(executable: String, arguments: [String], outputPath: String?, pipeStandardInput: Bool,
                              environment: [String: String]?) throws(ChildProcessError) -> (pid_t, Int32) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var inputPipe: [Int32] = [-1, -1]
        if pipeStandardInput {
            guard pipe(&inputPipe) == 0 else { throw ChildProcessError.spawn(executable, String(cString: strerror(errno))) }
            for end in inputPipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }  // the child gets its end through dup2
            posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
            posix_spawn_file_actions_addclose(&actions, inputPipe[0])
            posix_spawn_file_actions_addclose(&actions, inputPipe[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        let output = outputPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Everything else tiesim has open (the state lock, sockets libmosquitto made without
        // close-on-exec) stays out of the child.
        _ = addCloseFrom?(&actions, 3)

        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        if pipeStandardInput { close(inputPipe[0]) }
        guard rc == 0 else {
            if pipeStandardInput { close(inputPipe[1]) }
            throw ChildProcessError.spawn(executable, String(cString: strerror(rc)))
        }
        return (pid, pipeStandardInput ? inputPipe[1] : -1)
    }

    /// Whether the child is still running (reaps it if it has exited).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = status
            return false
        }
        return result == 0
    }

    /// The exit code (or 128 + signal), once the child has exited.
    public var terminationStatus: Int32? {
        _ = isRunning
        lock.lock()
        defer { lock.unlock() }
        guard let status = exitStatus else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Sends `signal` to the child.
    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Sends SIGTERM, waits up to `grace`, then SIGKILL; returns when the child is gone.
    public func terminate(grace: TimeInterval = 3) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { usleep(2_000) }
        if isRunning { kill(pid, SIGKILL) }
        wait()
    }

    /// Sends SIGTERM, waits up to `grace`, then SIGKILL; returns when the child is gone. Waits without
    /// holding a thread (for tasks: the task pool's threads are few).
    public func end(grace: TimeInterval = 3) async {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .milliseconds(Int(grace * 1000))
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(2)) }
        }
    }

    /// Blocks until the child exits and returns its status.
    @discardableResult
    public func wait() -> Int32 {
        while isRunning { usleep(2_000) }
        return terminationStatus ?? -1
    }
}

/// The one thread children are spawned from: it lives as long as the process, so a child's parent-death
/// signal comes only when the process dies (the kernel sends it when the spawning thread ends, and pool
/// threads come and go).
final class Spawner: @unchecked Sendable {
    static let shared = Spawner()
    private let condition = NSCondition()
    private var work: [() -> Void] = []

    private init() {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while work.isEmpty { condition.wait() }
                let next = work.removeFirst()
                condition.unlock()
                next()
            }
        }
        thread.name = "tiesim spawner"
        thread.start()
    }

    /// Runs `body` on the spawner thread and returns its result (blocks the caller until then).
    func run<T>(_ body: @escaping () throws(ChildProcessError) -> T) throws(ChildProcessError) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, ChildProcessError>?
        condition.lock()
        work.append {
            result = Result { () throws(ChildProcessError) -> T in try body() }
            done.signal()
        }
        condition.signal()
        condition.unlock()
        done.wait()
        return try result!.get()
    }
}

/// Why a child process could not be started.
public enum ChildProcessError: Error, CustomStringConvertible {
    case spawn(String, String)
    public var description: String {
        switch self {
        case .spawn(let executable, let reason): return "cannot start \(executable): \(reason)"
        }
    }
}
