import Crypto
import DXL
import Foundation

/// A deterministic generator seeded from a scenario's seed, so that random fault delays and drops
/// repeat from run to run.
struct SeededRandom: Sendable {
    private var generator: SplitMix64

    init(seed: String) {
        let digest = Array(SHA256.hash(data: Data(("random|" + seed).utf8)))
        generator = SplitMix64(seed: digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// A number in [0, 1).
    mutating func nextUnit() -> Double {
        Double(generator.next() >> 11) / Double(1 << 53)
    }
}
