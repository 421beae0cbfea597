import DXL
import DXLFabric
import Foundation
import TIE
import TIESimTesting
import TIESimulator
import TestSupport

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Starts a fabric with the scenario `yaml` (or the files at `paths`), runs `body`, and always stops it:
/// `withTIEFabric`'s harness, with the simulator itself in hand.
func withFabric(_ yaml: String? = nil, paths: [String] = [], configure: (inout SimulatedFabric.Options) -> Void = { _ in },
                _ body: (SimulatedFabric) async throws -> Void) async throws {
    var scenarios = try paths.map { try ScenarioLoader.load(path: $0.hasPrefix("/") ? $0 : repositoryRoot.appendingPathComponent($0).path) }
    if let yaml { scenarios.append(try ScenarioLoader.parse(text: yaml, file: "test.yaml")) }
    try await withConfiguredFabric(scenarios: scenarios, clients: ["client", "client2", "swift"], configure: configure) { fabric in
        try await body(fabric.simulated)
    }
}

/// The Python dxltieclient peer.
func tiePeer(_ arguments: [String]) throws -> PythonPeer {
    try PythonPeer(arguments, script: PythonPeer.tieScript)
}

/// Runs TieClient calls in one Python process; returns one result object per call.
func pythonTieCalls(_ fabric: SimulatedFabric, _ calls: [(String, [String: Any])], config: String? = nil) async throws -> [[String: Any]] {
    let input = try calls.map { method, kwargs in
        // Sorted keys: a dict of hashes reaches dxltieclient as md5, sha1, sha256 (the Swift TieClient's order).
        String(decoding: try JSONSerialization.data(withJSONObject: ["method": method, "kwargs": kwargs], options: [.sortedKeys]), as: UTF8.self)
    }.joined(separator: "\n") + "\n"
    let lines = try await PythonPeer.run(["calls", config ?? fabric.clientConfigPath], script: PythonPeer.tieScript, stdin: input, timeout: .seconds(120))
    let results = try lines.filter { $0.hasPrefix("{") }.map(PythonPeer.json)
    guard results.count == calls.count else {
        throw PeerError(description: "expected \(calls.count) results, got \(results.count): \(lines)")
    }
    return results
}

/// A JSON line from a peer as a JSONValue (for exact comparisons).
func jsonValue(_ object: Any) throws -> JSONValue {
    try JSONValue.parse(try JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]))
}

/// The built `tiesim` executable next to the test bundle.
var tiesimExecutable: String {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tiesim").path,
        repositoryRoot.appendingPathComponent(".build/debug/tiesim").path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
}
