import Foundation
import TestSupport

/// Reads a hex fixture captured from the real Python dxlclient (see shared/spec/vectors).
func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    return try hexBytes(text)
}

