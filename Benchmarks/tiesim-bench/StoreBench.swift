// tiesim-bench store: load and lookup times of a 1 M-file store.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

// MARK: Store

func benchStore() {
    let total = 1_000_000
    // Generate the files first, so that the load time is the store's own.
    let generationStart = clock.now
    let files = (0..<total).map { index in
        FileKnowledge(name: "F\(index)", md5: Generated.hash(seed: "s", name: "\(index)", type: .md5),
                      sha1: Generated.hash(seed: "s", name: "\(index)", type: .sha1), sha256: Generated.hash(seed: "s", name: "\(index)", type: .sha256),
                      reputations: [Reputation(providerId: 1, trustLevel: 99, createDate: 0)])
    }
    print("store: generated \(format(Double(total))) files in \(format(seconds(clock.now - generationStart), digits: 1)) s")
    let store = ReputationStore()
    var loaded = 0
    var loadTime = Duration.zero
    for checkpoint in [1_000, 100_000, total] {
        let start = clock.now
        store.load(Scenario(name: "bench", source: "bench", files: Array(files[loaded..<checkpoint])))
        loadTime += clock.now - start
        loaded = checkpoint
        // Look up 200,000 known sha256 hashes spread over what is loaded.
        let probes = (0..<1000).map { [("sha256", files[$0 * loaded / 1000].sha256)] }
        let rounds = 200_000
        let lookupStart = clock.now
        var found = 0
        for index in 0..<rounds {
            if case .found = store.file(hashes: probes[index % probes.count]) { found += 1 }
        }
        let perLookup = seconds(clock.now - lookupStart) / Double(rounds) * 1e9
        print("store: \(format(Double(loaded))) files: lookup by sha256 \(format(perLookup)) ns (\(found == rounds ? "all found" : "MISSING"))")
    }
    print("store: loading \(format(Double(total))) files took \(format(seconds(loadTime), digits: 2)) s")
}
