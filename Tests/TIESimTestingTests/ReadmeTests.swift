import Foundation
import TIE
import TIESimTesting
import Testing

@Test("README quotes ReadmeExampleTests.swift word for word")
func readmeQuotesTheExample() throws {
    let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let example = try String(contentsOf: tests.appendingPathComponent("ReadmeExampleTests.swift"), encoding: .utf8)
    let body = example.split(separator: "\n", maxSplits: 1)[1]
    let readme = try String(contentsOf: tests.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
    #expect(readme.contains(body.trimmingCharacters(in: .whitespacesAndNewlines)))
}

@Test("README quotes ReadmeSwiftClient.swift word for word, and it works against a fabric")
func readmeSwiftClientExample() async throws {
    let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let example = try String(contentsOf: tests.appendingPathComponent("ReadmeSwiftClient.swift"), encoding: .utf8)
    let body = example.split(separator: "\n", maxSplits: 1)[1]
    let readme = try String(contentsOf: tests.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
    #expect(readme.contains(body.trimmingCharacters(in: .whitespacesAndNewlines)))

    try await withTIEFabric(scenario: "basic-detection.yaml") { fabric in
        let tie = try await watchDetections(config: fabric.clientConfigPath)
        let detections = try await tie.detectionInbox()
        fabric.startPlaying()
        let detection = try await detections.next(timeout: .seconds(10))
        #expect(detection.name == "FOCUS_MALWARE2.EXE")
        await tie.dxlClient.disconnect()
    }
}
