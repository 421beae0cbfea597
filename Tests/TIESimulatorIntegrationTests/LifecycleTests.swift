import DXL
import Foundation
import TIESimulator
import TestSupport
import Testing

/// tiesim as CI infrastructure: whatever ends it — a signal, a kill, a closed stdout — nothing it started
/// survives it, and every signal stops it promptly with an honest exit code.
@Suite("Lifecycles: signals, kills, closed pipes, bad arguments", .timeLimit(.minutes(5)))
struct LifecycleTests {
    @Test("SIGHUP stops up like SIGTERM: exit 0, no mosquitto left")
    func hangUp() async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE"])
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("ready")
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).count == 1)
        tiesim.process.send(SIGHUP)
        #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 0, "\(tiesim.output)")
        #expect(tiesim.output.contains("tiesim: stopped"))
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
    }

    @Test("kill -9 of tiesim takes its mosquitto with it, and the next up on the same directory starts")
    func killedHard() async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", "--no-http"])
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("ready")
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).count == 1)
        tiesim.process.send(SIGKILL)
        _ = try await tiesim.waitForExit(timeout: .seconds(10))
        #expect(await eventually(timeout: .seconds(10)) { CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty },
                "mosquitto outlived a killed tiesim")
        try? FileManager.default.removeItem(atPath: tiesim.outputPath)  // the next run writes the same file
        let again = try TiesimProcess(["up", "--state-dir", tiesim.stateDirectory, "--no-http"], stateDirectory: tiesim.stateDirectory)
        defer { again.process.terminate() }
        try await again.waitForOutput("ready")
        again.process.send(SIGTERM)
        #expect(try await again.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("up --exit-when-done stops at once on SIGTERM while a step waits for a subscriber, with 128 + the signal")
    func signalWhileWaiting() async throws {
        let scenario = NSTemporaryDirectory() + "waiting-\(UUID().uuidString.prefix(8)).yaml"
        try "settings: {subscriberTimeout: 300s}\nfiles:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n".write(toFile: scenario, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scenario) }
        for signal in [SIGTERM, SIGINT] {
            let tiesim = try TiesimProcess(["up", scenario, "--state-dir", "STATE", "--exit-when-done", "--no-http"])
            defer { tiesim.cleanUp() }
            try await tiesim.waitForOutput("ready")
            try await Task.sleep(for: .milliseconds(200))  // the step is waiting for a subscriber by now (nothing else happens)
            let clock = ContinuousClock()
            let sent = clock.now
            tiesim.process.send(signal)
            let status = try await tiesim.waitForExit(timeout: .seconds(20))
            #expect(status == 128 + signal, "\(tiesim.output)")
            #expect(clock.now - sent < .seconds(10), "a hang, not a prompt stop")
            #expect(tiesim.output.contains("before the run was done"))
            #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
        }
    }

    @Test("a closed stdout (up | head -1) does not bring tiesim down; SIGTERM still stops it cleanly")
    func closedStandardOutput() async throws {
        let state = NSTemporaryDirectory() + "tiesim-pipe-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: sharedCertificateFolder, toPath: state + "/certs")
        defer { try? FileManager.default.removeItem(atPath: state) }
        // bash runs tiesim with its stdout into head, which exits after the first line.
        let script = "\"\(tiesimExecutable)\" up --state-dir \"\(state)\" --no-http | head -1 > \"\(state)/first\"; echo \"${PIPESTATUS[0]}\" > \"\(state)/status\""
        let shell = try ChildProcess(executable: "/bin/bash", arguments: ["-c", script], outputPath: state + ".err")
        defer { shell.terminate() }
        #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: state + "/ready") })
        // Something else is printed after the first line: the progress of a scenario-less fabric is quiet,
        // so stop it; its "stopped" goes to stderr, and the lines before it to the closed pipe.
        #expect(await eventually(timeout: .seconds(10)) { ((try? String(contentsOfFile: state + "/first", encoding: .utf8)) ?? "").contains("ready") })
        let pids = try String(contentsOfFile: state + "/tiesim.lock", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(Int32(pids))
        kill(pid, SIGTERM)
        shell.wait()
        let status = (try? String(contentsOfFile: state + "/status", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(status == "0", "tiesim's exit status \(status ?? "?"); stderr: \((try? String(contentsOfFile: state + ".err", encoding: .utf8)) ?? "")")
        #expect(CommandLineTests.mosquittoProcesses(using: state).isEmpty)
    }

    @Test("bad numbers in options are refused at once with exit 64, before anything starts",
          arguments: [["--port", "70000"], ["--http-port", "70000"], ["--port", "0"], ["--max-request-rate", "-1"], ["--clients", "../evil"]])
    func badOptions(arguments: [String]) async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE"] + arguments)
        defer { tiesim.cleanUp() }
        #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 64, "\(tiesim.output)")
        #expect(tiesim.output.contains("Error:"))
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
    }

    @Test("--clients A B makes both client certificates and configs")
    func severalClients() async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", "--no-http", "--clients", "alpha", "beta"])
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("ready")
        #expect(FileManager.default.fileExists(atPath: tiesim.stateDirectory + "/dxlclient-beta.config"))
        #expect(FileManager.default.fileExists(atPath: tiesim.stateDirectory + "/certs/beta.crt"))
        tiesim.process.send(SIGTERM)
        #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 0)
    }
}
