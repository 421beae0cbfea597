import Crypto
import DXL
import DXLFabric
import DXLBroker
import Foundation
import TIE
import Yams

/// Deterministic stand-ins for what a scenario leaves out: hashes and agent GUIDs derived from the
/// scenario's seed, so that runs repeat.
public enum Generated {
    /// A `type` digest for file `name` under `seed` (hex).
    public static func hash(seed: String, name: String, type: HashType) -> String {
        let digest = SHA256.hash(data: Data("\(seed)|\(name)|\(type.rawValue)".utf8))
        return HashEncoding.hex(Array(digest).prefix(type.byteCount))
    }

    /// Agent number `index` under `seed`, as a `{uuid}` GUID.
    public static func agentGuid(seed: String, index: Int) -> String {
        let bytes = Array(SHA256.hash(data: Data("\(seed)|agent|\(index)".utf8)))
        let hex = HashEncoding.hex(bytes.prefix(16))
        let characters = Array(hex)
        return "{" + String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16]) + "-"
            + String(characters[16..<20]) + "-" + String(characters[20..<32]) + "}"
    }
}
