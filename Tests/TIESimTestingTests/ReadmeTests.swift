import Foundation
import Testing

@Test("README quotes ReadmeExampleTests.swift word for word")
func readmeQuotesTheExample() throws {
    let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let example = try String(contentsOf: tests.appendingPathComponent("ReadmeExampleTests.swift"), encoding: .utf8)
    let body = example.split(separator: "\n", maxSplits: 1)[1]
    let readme = try String(contentsOf: tests.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
    #expect(readme.contains(body.trimmingCharacters(in: .whitespacesAndNewlines)))
}
