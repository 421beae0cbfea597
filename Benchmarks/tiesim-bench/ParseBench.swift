// tiesim-bench parse: a generated 10 MB scenario.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

// MARK: Parse

func benchParse() throws {
    var text = "name: ten-megabytes\nsettings: {seed: big, waitForSubscribers: false}\nfiles:\n"
    var index = 0
    while text.utf8.count < 10_000_000 {
        let md5 = Generated.hash(seed: "p", name: "\(index)", type: .md5)
        let sha1 = Generated.hash(seed: "p", name: "\(index)", type: .sha1)
        let sha256 = Generated.hash(seed: "p", name: "\(index)", type: .sha256)
        text += "  FILE\(index).EXE:\n    md5: \(md5)\n    sha1: \(sha1)\n    sha256: \(sha256)\n    reputations:\n      GTI: KNOWN_TRUSTED\n      ENTERPRISE: {trustLevel: UNKNOWN, attributes: {PREVALENCE: \"3\"}}\n"
        index += 1
    }
    text += "timeline:\n  - detection: {file: FILE0.EXE}\n    repeat: 1000\n"
    let path = workFolder + "/ten-megabytes.yaml"
    try FileManager.default.createDirectory(atPath: workFolder, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    var best = Duration.seconds(1000)
    var scenario: Scenario?
    for _ in 0..<3 {
        let start = clock.now
        scenario = try ScenarioLoader.load(path: path)
        best = min(best, clock.now - start)
    }
    var readBest = Duration.seconds(1000), composeBest = Duration.seconds(1000)
    for _ in 0..<3 {
        var start = clock.now
        guard QuickYAMLReader.read(text) != nil else { throw BenchError(description: "the quick YAML reader left the benchmark file to Yams") }
        readBest = min(readBest, clock.now - start)
        start = clock.now
        _ = try Yams.compose(yaml: text, .basic)
        composeBest = min(composeBest, clock.now - start)
    }
    print("parse: of which reading the YAML tree takes \(format(seconds(readBest) * 1000)) ms (Yams would take \(format(seconds(composeBest) * 1000)) ms), and tiesim validates in the rest")
    print("parse: \(format(Double(text.utf8.count) / 1e6, digits: 1)) MB scenario with \(scenario?.files.count ?? 0) files parsed and validated in \(format(seconds(best) * 1000)) ms (best of 3; goal < 1,000 ms)")
}
