import DXL
import DXLFabric
import Foundation

public struct PeerError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// A running `dxl_peer.py`: the unmodified Python dxlclient, driven through one subcommand.
/// Its output goes to a file that is read line by line; `stop()` ends it (call it in `defer`).
public final class PythonPeer: Sendable {
    /// The repository's Tests folder.
    public static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    /// The plain dxlclient peer.
    public static let script = testsFolder.appendingPathComponent("DXLIntegrationTests/python/dxl_peer.py").path
    /// The dxltieclient peer.
    public static let tieScript = testsFolder.appendingPathComponent("TIESimulatorIntegrationTests/python/tie_peer.py").path

    private let process: ChildProcess
    private let outputPath: String

    public init(_ arguments: [String], script: String = PythonPeer.script) throws {
        outputPath = NSTemporaryDirectory() + "tiesim-peer-\(UUID().uuidString).out"
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        process = try ChildProcess(executable: "/usr/bin/env", arguments: ["python3", script] + arguments,
                                   outputPath: outputPath, pipeStandardInput: true, environment: environment)
    }

    deinit {
        process.terminate(grace: 1)
        try? FileManager.default.removeItem(atPath: outputPath)
    }

    /// Runs a subcommand to completion, feeding `stdin`, and returns its output lines.
    public static func run(_ arguments: [String], script: String = PythonPeer.script, stdin: String = "", timeout: Duration = .seconds(60)) async throws -> [String] {
        let peer = try PythonPeer(arguments, script: script)
        defer { peer.stop() }
        peer.write(stdin)
        peer.closeInput()
        try await peer.waitForExit(timeout: timeout)
        guard peer.process.terminationStatus == 0 else {
            throw PeerError(description: "dxl_peer.py \(arguments.first ?? "") exited \(peer.process.terminationStatus ?? -1): \(peer.text)")
        }
        return peer.output
    }

    /// Everything the peer printed (stdout and stderr).
    public var text: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    /// The complete lines printed so far.
    public var output: [String] {
        let text = self.text
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !text.hasSuffix("\n") { lines.removeLast() } else { lines.removeLast() }
        return lines
    }
    public var exitStatus: Int32? { process.terminationStatus }

    public func write(_ text: String) {
        try? process.standardInput?.write(contentsOf: Data(text.utf8))
    }

    public func closeInput() {
        try? process.standardInput?.close()
    }

    /// Waits for an output line satisfying `predicate`.
    @discardableResult
    public func waitForLine(timeout: Duration = .seconds(30), where predicate: (String) -> Bool) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if let line = output.first(where: predicate) { return line }
            if !process.isRunning {
                if let line = output.first(where: predicate) { return line }
                throw PeerError(description: "python peer exited (\(process.terminationStatus ?? -1)) before the expected line; output:\n\(text)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw PeerError(description: "timed out waiting for the python peer; output:\n\(text)")
    }

    public func waitForExit(timeout: Duration = .seconds(30)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while process.isRunning {
            guard clock.now < deadline else { throw PeerError(description: "python peer still running after \(timeout); output:\n\(text)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    public func stop() {
        process.terminate(grace: 2)
    }

    /// Kills the peer at once (SIGKILL): its connections end without a DISCONNECT, as in a crash.
    public func kill() {
        process.send(SIGKILL)
        process.wait()
    }

    /// Parses a line as a JSON object.
    public static func json(_ line: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw PeerError(description: "not a JSON object: \(line)")
        }
        return object
    }
}
