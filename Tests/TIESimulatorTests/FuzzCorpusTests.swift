import DXL
import Foundation
import Testing
@testable import TIESimulator

/// Replays the fuzz corpus (Tests/Fuzz/corpus): inputs that once failed or are known to be hostile.
/// `swift run -c release tiesim-fuzz` adds any input that crashes, hangs or is refused without a message.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    static func files(_ kind: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: corpus.appendingPathComponent(kind), includingPropertiesForKeys: nil)
    }

    @Test("every codec input ends in a message or a DXLDecodingError, quickly")
    func codec() throws {
        let inputs = try Self.files("codec")
        #expect(inputs.count >= 7)
        for url in inputs {
            let bytes = [UInt8](try Data(contentsOf: url))
            let clock = ContinuousClock()
            let start = clock.now
            _ = try? DXLMessageCodec.decode(bytes)
            #expect(clock.now - start < .seconds(1), "\(url.lastPathComponent)")
        }
    }

    @Test("every scenario input ends in a scenario or located mistakes, quickly")
    func scenarios() throws {
        let inputs = try Self.files("scenario")
        #expect(inputs.count >= 9)
        for url in inputs {
            let data = try Data(contentsOf: url)
            let clock = ContinuousClock()
            let start = clock.now
            do {
                _ = try ScenarioLoader.parse(data: data, file: url.lastPathComponent)
            } catch {
                #expect(!error.issues.isEmpty)
                #expect(error.issues.allSatisfy { $0.description.hasPrefix(url.lastPathComponent + ":") }, "\(error)")
            }
            #expect(clock.now - start < .seconds(10), "\(url.lastPathComponent)")
        }
    }
}
