import Foundation


public struct BadHex: Error {}

public func hexBytes(_ text: String) throws -> [UInt8] {
    let digits = Array(text.filter { !$0.isWhitespace }.utf8)
    guard digits.count % 2 == 0 else { throw BadHex() }
    var bytes: [UInt8] = []
    var index = 0
    while index < digits.count {
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { throw BadHex() }
        bytes.append(byte)
        index += 2
    }
    return bytes
}

public func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}
