import DXL
import DXLFabric
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TIE
import TIESimulator
import TestSupport
import Testing

/// A `tiesim` process with its output in a file.
final class TiesimProcess: Sendable {
    let process: ChildProcess
    let outputPath: String
    let stateDirectory: String

    /// Starts tiesim with `arguments` (`STATE` stands for the state directory); with `fileLimit`, under
    /// that limit of open files (util-linux's prlimit).
    init(_ arguments: [String], stateDirectory: String = NSTemporaryDirectory() + "tiesim-cli-\(UUID().uuidString.prefix(8))", fileLimit: Int? = nil) throws {
        self.stateDirectory = stateDirectory
        outputPath = stateDirectory + ".out"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        _ = try? testCertificates.copy(to: stateDirectory + "/certs")
        let resolved = arguments.map { $0 == "STATE" ? stateDirectory : $0 }
        if let fileLimit {
            process = try ChildProcess(executable: "/usr/bin/prlimit", arguments: ["--nofile=\(fileLimit)", "--", tiesimExecutable] + resolved, outputPath: outputPath)
        } else {
            process = try ChildProcess(executable: tiesimExecutable, arguments: resolved, outputPath: outputPath)
        }
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func waitForOutput(_ text: String, timeout: Duration = .seconds(30)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !output.contains(text) {
            guard clock.now < deadline, process.isRunning || output.contains(text) else {
                throw PeerError(description: "tiesim did not print '\(text)'; output:\n\(output)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning {
            guard clock.now < deadline else { throw PeerError(description: "tiesim still running; output:\n\(output)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus ?? -1
    }

    func cleanUp() {
        process.terminate()
        try? FileManager.default.removeItem(atPath: stateDirectory)
        try? FileManager.default.removeItem(atPath: outputPath)
    }
}

@Suite("The tiesim command", .timeLimit(.minutes(3)))
struct CommandLineTests {
    static let quarantine = repositoryRoot.appendingPathComponent("scenarios/quarantine.yaml").path
    static let app = repositoryRoot.appendingPathComponent("examples/quarantine_app.py").path

    @Test("up --exit-when-done exits 0 when the application does what the expectations say, and writes JUnit, journal and HTML")
    func expectationsHold() async throws {
        let reports = NSTemporaryDirectory() + "tiesim-reports-\(UUID().uuidString.prefix(8))"
        let tiesim = try TiesimProcess(["up", Self.quarantine, "--state-dir", "STATE", "--exit-when-done", "--settle", "1",
                                        "--junit", reports + ".xml", "--journal", reports + ".jsonl", "--report", reports + ".html"])
        defer { tiesim.cleanUp(); for ext in [".xml", ".jsonl", ".html"] { try? FileManager.default.removeItem(atPath: reports + ext) } }
        try await tiesim.waitForOutput("ready")
        let app = try PythonPeer([tiesim.stateDirectory + "/dxlclient.config", "quarantine this file"], script: Self.app)
        defer { app.stop() }
        let status = try await tiesim.waitForExit()
        #expect(status == 0, "output:\n\(tiesim.output)\napp:\n\(app.text)")
        #expect(tiesim.output.contains("tiesim passed: 1 steps played, 3 of 3 expectations hold"))
        let junit = try XMLDocument(contentsOf: URL(fileURLWithPath: reports + ".xml"))
        #expect(try junit.nodes(forXPath: "//testcase").count == 4)
        #expect(try junit.nodes(forXPath: "//failure").isEmpty)
        let journal = try String(contentsOfFile: reports + ".jsonl", encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        let set = journal.first { $0["topic"] == .string(TieTopic.setFileReputation) }
        #expect(set?["kind"] == "request")
        #expect(set?["payload"]?["hashes"]?["md5"] == "eb5e2b9dc51817a086d7b97eb52410ab")
        #expect(set?["payload"]?["comment"] == "quarantine this file")
        #expect(journal.contains { $0["kind"] == "step" && $0["note"] == "the detection" })
        #expect(journal.contains { $0["kind"] == "event" && $0["topic"] == .string(TieTopic.fileReputationChange) })
        let html = try String(contentsOfFile: reports + ".html", encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("PASSED") && html.contains("the application convicts the file"))
    }

    @Test("up --exit-when-done exits 1 with the failed expectation, its line and what came instead")
    func expectationFails() async throws {
        let reports = NSTemporaryDirectory() + "tiesim-reports-\(UUID().uuidString.prefix(8))"
        let tiesim = try TiesimProcess(["up", Self.quarantine, "--state-dir", "STATE", "--exit-when-done", "--settle", "1", "--junit", reports + ".xml"])
        defer { tiesim.cleanUp(); try? FileManager.default.removeItem(atPath: reports + ".xml") }
        try await tiesim.waitForOutput("ready")
        let app = try PythonPeer([tiesim.stateDirectory + "/dxlclient.config", "looks fine to me"], script: Self.app)
        defer { app.stop() }
        let status = try await tiesim.waitForExit()
        #expect(status == 1)
        let output = tiesim.output
        #expect(output.contains("quarantine.yaml:21:5: expectation 'the application convicts the file' failed: expected exactly 1 request on /mcafee/service/tie/file/reputation/set"))
        #expect(output.contains("closest journal entries:"))
        #expect(output.contains("\"comment\": \"looks fine to me\""))
        #expect(output.contains("tiesim FAILED: 1 steps played, 2 of 3 expectations hold"))
        let junit = try XMLDocument(contentsOf: URL(fileURLWithPath: reports + ".xml"))
        #expect(try junit.nodes(forXPath: "//testcase[failure]/@name").compactMap(\.stringValue) == ["the application convicts the file"])
    }

    @Test("an invalid scenario exits 2 with every mistake, and nothing starts")
    func invalidScenario() async throws {
        let path = NSTemporaryDirectory() + "bad-\(UUID().uuidString.prefix(8)).yaml"
        try "files:\n  A.EXE:\n    md5: 12\ntimeline:\n  - detection: {file: B.EXE}\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for command in [["validate", path], ["up", path, "--state-dir", "STATE", "--exit-when-done"]] {
            let tiesim = try TiesimProcess(command)
            defer { tiesim.cleanUp() }
            #expect(try await tiesim.waitForExit() == 2)
            #expect(tiesim.output.contains("\(path):3:10: md5 has 2 hex digits; a md5 has 32"))
            #expect(tiesim.output.contains("\(path):5:23: unknown file 'B.EXE' — did you mean 'A.EXE'? (or define it under files:)"))
            #expect(!tiesim.output.contains("ready"))
        }
    }

    @Test("tiesim validate on numbers out of range exits 2 pointing at each, instead of crashing")
    func validateNumericExtremes() async throws {
        let path = NSTemporaryDirectory() + "extreme-\(UUID().uuidString.prefix(8)).yaml"
        try "settings: {subscriberTimeout: 1e20s}\nfiles:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    after: 1e20s\n    rate: 1e-10/s\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tiesim = try TiesimProcess(["validate", path])
        defer { tiesim.cleanUp() }
        #expect(try await tiesim.waitForExit() == 2, "\(tiesim.output)")
        for line in [1, 6, 7] { #expect(tiesim.output.contains("\(path):\(line):"), "line \(line): \(tiesim.output)") }
    }

    @Test("up stops on SIGTERM and SIGINT, leaving no mosquitto; a second up on the same state directory is refused")
    func signalsAndLock() async throws {
        for signal in [SIGTERM, SIGINT] {
            let tiesim = try TiesimProcess(["up", "--state-dir", "STATE"])
            defer { tiesim.cleanUp() }
            try await tiesim.waitForOutput("ready")
            let second = try TiesimProcess(["up", "--state-dir", tiesim.stateDirectory], stateDirectory: tiesim.stateDirectory)
            #expect(try await second.waitForExit() == 3)
            #expect(second.output.contains("another tiesim (pid \(tiesim.process.pid)) is using the state directory"))
            let pidLine = try String(contentsOfFile: tiesim.stateDirectory + "/broker/mosquitto.log", encoding: .utf8)
            #expect(pidLine.contains("mosquitto version"))
            let mosquittoPids = Self.mosquittoProcesses(using: tiesim.stateDirectory)
            #expect(mosquittoPids.count == 1)
            tiesim.process.send(signal)
            #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 0)
            #expect(tiesim.output.contains("tiesim: stopped"))
            #expect(Self.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
        }
    }

    @Test("up interrupted at any moment of its start-up stops, leaving no mosquitto and no held lock",
          arguments: [(0, SIGTERM), (15, SIGINT), (40, SIGTERM), (80, SIGINT), (150, SIGTERM), (300, SIGINT), (600, SIGTERM)])
    func interruptedStartUp(afterMilliseconds delay: Int, signal: Int32) async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", Self.quarantine])
        defer { tiesim.cleanUp() }
        try await Task.sleep(for: .milliseconds(delay))
        tiesim.process.send(signal)
        let status = try await tiesim.waitForExit(timeout: .seconds(20))
        // Handled: 0 and "stopped". Before tiesim installed its handler (the first moments of the process),
        // the default action ends it: 128 + the signal, and nothing was started yet.
        #expect(status == 0 || status == 128 + signal, "exit \(status); output:\n\(tiesim.output)")
        #expect(Self.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty, "mosquitto left running; output:\n\(tiesim.output)")
        let lock = open(tiesim.stateDirectory + "/tiesim.lock", O_RDWR | O_CREAT, 0o600)
        defer { close(lock) }
        #expect(flock(lock, LOCK_EX | LOCK_NB) == 0, "the state directory is still locked")
        #expect(!FileManager.default.fileExists(atPath: tiesim.stateDirectory + "/ready"))
    }

    /// mosquitto processes whose command line names a file in `directory`.
    static func mosquittoProcesses(using directory: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), !stat.contains(") Z") else { return false }
            return command.contains("mosquitto") && command.contains(directory)
        }
    }

    @Test("run plays a scenario on a running fabric, and certs makes a PKI a Python client connects with")
    func runAndCerts() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let listener = try tiePeer(["callbacks", fabric.clientConfigPath, "detection", "2", "30"])
            defer { listener.stop() }
            try await listener.waitForLine { $0 == "READY" }
            let scenario = NSTemporaryDirectory() + "run-\(UUID().uuidString.prefix(8)).yaml"
            try "settings: {waitForSubscribers: false}\nfiles:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    repeat: 2\nexpect:\n  - event: detection\n    count: 2\n"
                .write(toFile: scenario, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: scenario) }
            let run = try TiesimProcess(["run", scenario, "--config", fabric.options.stateDirectory + "/dxlclient-client2.config", "--settle", "0.5"])
            defer { run.cleanUp() }
            #expect(try await run.waitForExit() == 0, "\(run.output)")
            #expect(run.output.contains("tiesim timeline done: 2 events in 1 steps"))
            #expect(run.output.contains("tiesim passed"))
            try await listener.waitForLine { $0 == "DONE" }
        }
        let folder = NSTemporaryDirectory() + "certs-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let certs = try TiesimProcess(["certs", "--out", folder, "--clients", "2", "--port", "18999"])
        defer { certs.cleanUp() }
        #expect(try await certs.waitForExit() == 0)
        for name in ["ca.crt", "broker.crt", "broker.key", "client1.crt", "client2.key", "dxlclient-client1.config", "dxlclient-client2.config"] {
            #expect(FileManager.default.fileExists(atPath: folder + "/" + name), "\(name)")
        }
        let keyMode = try FileManager.default.attributesOfItem(atPath: folder + "/client2.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        let config = try DXLClientConfig(contentsOf: folder + "/dxlclient-client1.config")
        #expect(config.brokers.first?.port == 18999)
    }
}
