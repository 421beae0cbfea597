import ArgumentParser
import Foundation
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
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes a line to stdout and flushes it at once (so pipes and CI logs see "ready" immediately).
func printLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
