import ArgumentParser
import Foundation
import Synchronization
import Logging

/// The `tiesim` command: a fake TIE / DXL fabric for tests.
@main
struct Tiesim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tiesim",
        abstract: "A mock McAfee TIE / OpenDXL fabric for tests: real mosquitto, a fake TIE server, scenario files.",
        discussion: """
        Exit codes:
          0  success
          1  the run failed (an expectation did not hold, a step could not be played, no subscriber came)
          2  invalid input (a scenario or dxlclient.config with mistakes; each is printed as file:line:column)
          3  the environment is missing something (mosquitto not installed, a port or state directory in use)
          64 bad command-line arguments
        """,
        subcommands: [Up.self, Run.self, Listen.self, Validate.self, Certs.self, Record.self],
        defaultSubcommand: nil
    )
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "How much to log on stderr: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .notice

    func bootstrap() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Exit codes, as `--help` lists them.
enum Exit {
    static let failure = ExitCode(1)
    static let invalidInput = ExitCode(2)
    static let environment = ExitCode(3)
}

/// Writes a line to stderr.
func printError(_ text: String) {
    writeAll(STDERR_FILENO, text + "\n")
}

/// Writes a line to stdout and flushes it at once (so pipes and CI logs see "ready" immediately).
/// When nobody reads stdout any more (`tiesim up | head -1`), the line is dropped, once said on stderr:
/// `FileHandle.write` would trap on EPIPE.
func printLine(_ text: String) {
    if !writeAll(STDOUT_FILENO, text + "\n"), !stdoutGone.exchange(true, ordering: .relaxed) {
        writeAll(STDERR_FILENO, "tiesim: standard output was closed; its lines are dropped from now on (DIR/ready still says when the fabric is up)\n")
    }
}

private let stdoutGone = Atomic<Bool>(false)

/// Writes all of `text` to `descriptor` with write(2), retrying interrupted and partial writes; false
/// when the descriptor refuses (EPIPE, a closed descriptor).
@discardableResult
func writeAll(_ descriptor: Int32, _ text: String) -> Bool {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        bytes = bytes.dropFirst(written)
    }
    return true
}

/// Refuses `port` (when given) unless it is a TCP port; with `zeroForFree`, 0 asks for a free one.
func validatePort(_ port: Int?, option: String, zeroForFree: Bool = false) throws {
    guard let port, !((zeroForFree ? 0 : 1)...65_535).contains(port) else { return }
    throw ValidationError("--\(option) must be a TCP port from 1 to 65535\(zeroForFree ? " (0: a free one)" : ""), not \(port)")
}
