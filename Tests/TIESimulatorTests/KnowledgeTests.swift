import DXL
import Testing
import TIE
@testable import TIESimulator

/// The pure logic behind the fake TIE, without a broker: the store's lookups, conflicts, sets and resets,
/// and the parser's did-you-mean.
@Suite("Reputation store and did-you-mean")
struct KnowledgeTests {
    let a = (md5: "0123456789abcdef0123456789abcdef", sha1: "0123456789abcdef0123456789abcdef01234567")
    let b = (md5: "fedcba9876543210fedcba9876543210", sha1: "fedcba9876543210fedcba9876543210fedcba98")

    func store() throws -> ReputationStore {
        let scenario = try ScenarioLoader.parse(text: """
            files:
              A.EXE:
                md5: \(a.md5)
                sha1: \(a.sha1)
                reputations: {GTI: KNOWN_MALICIOUS}
              B.EXE:
                md5: \(b.md5)
                sha1: \(b.sha1)
            """, file: "store.yaml")
        return ReputationStore(scenarios: [scenario])
    }

    @Test("any subset of a file's hashes finds it, in any case; another file's hash beside it is a conflict")
    func lookups() throws {
        let store = try store()
        guard case .found(let byMd5) = store.file(hashes: [("md5", a.md5.uppercased())]) else { Issue.record("md5 alone"); return }
        #expect(byMd5.name == "A.EXE")
        guard case .found(let both) = store.file(hashes: [("md5", a.md5), ("sha1", a.sha1)]) else { Issue.record("both"); return }
        #expect(both.name == "A.EXE")
        #expect(store.file(hashes: [("md5", String(repeating: "9", count: 32))]) == .unknown)
        #expect(store.file(hashes: [("md5", a.md5), ("sha1", b.sha1)]) == .conflict(["A.EXE", "B.EXE"]))
        // A hash that is not A's own, next to one that is: another, unknown file.
        #expect(store.file(hashes: [("md5", a.md5), ("sha1", String(repeating: "1", count: 40))]) == .conflict(["A.EXE", "an unknown file"]))
    }

    @Test("a set keeps every other provider's record; an unknown file is created; conflicting hashes are refused")
    func sets() throws {
        let store = try store()
        let change = try store.setFileReputation(hashes: [("md5", a.md5)], providerId: 3, trustLevel: 99, filename: nil, now: 1_000)
        #expect(change.old.reputations[1]?.trustLevel == 1)
        #expect(change.new.reputations[1]?.trustLevel == 1)  // GTI kept
        #expect(change.new.reputations[3]?.trustLevel == 99)
        let created = try store.setFileReputation(hashes: [("md5", String(repeating: "7", count: 32))], providerId: 3, trustLevel: 85,
                                                  filename: "NEW.EXE", now: 1_000, initial: [1: Reputation(providerId: 1, trustLevel: 50, createDate: 1_000)])
        #expect(!created.new.defined && created.new.reputations[1]?.trustLevel == 50 && created.new.reputations[3]?.trustLevel == 85)
        #expect(throws: StoreError.conflictingHashes(["A.EXE", "B.EXE"])) {
            try store.setFileReputation(hashes: [("md5", a.md5), ("sha1", b.sha1)], providerId: 3, trustLevel: 1, filename: nil, now: 1_000)
        }
        #expect(store.file(named: "B.EXE")?.reputations[3] == nil)
    }

    @Test("reset returns to what was loaded at start: sets and run-time loads are forgotten")
    func reset() throws {
        let store = try store()
        _ = try store.setFileReputation(hashes: [("md5", a.md5)], providerId: 3, trustLevel: 99, filename: nil, now: 1_000)
        store.load(try ScenarioLoader.parse(text: "files:\n  C.EXE:\n", file: "later.yaml"), keepAfterReset: false)
        #expect(store.file(named: "C.EXE") != nil)
        store.reset()
        #expect(store.file(named: "C.EXE") == nil)
        #expect(store.file(named: "A.EXE")?.reputations[3] == nil)
        #expect(store.file(named: "A.EXE")?.reputations[1]?.trustLevel == 1)
    }

    @Test("every change of the store moves its generation; lookups do not")
    func generation() throws {
        let store = try store()
        var seen = store.generation
        func moved() -> Bool {
            defer { seen = store.generation }
            return store.generation != seen
        }
        _ = store.file(hashes: [("md5", a.md5)])
        _ = store.certificate(sha1: a.sha1)
        #expect(!moved())
        _ = try store.setFileReputation(hashes: [("md5", a.md5)], providerId: 3, trustLevel: 99, filename: nil, now: 1)
        #expect(moved())
        _ = store.setCertificateReputation(sha1: a.sha1, publicKeySha1: nil, providerId: 4, trustLevel: 99, now: 1)
        #expect(moved())
        #expect(throws: StoreError.self) { try store.setFileReputation(hashes: [("md5", a.md5), ("sha1", b.sha1)], providerId: 3, trustLevel: 1, filename: nil, now: 1) }
        store.reset()
        #expect(moved())
        store.load(try ScenarioLoader.parse(text: "files:\n  C.EXE:\n", file: "c.yaml"), keepAfterReset: false)
        #expect(moved())
        store.clear()
        #expect(moved())
    }

    @Test("a kept reply is given for the same lookup only, at the same generation and second; sets and large bodies are not kept")
    func replyCache() throws {
        var cache = ReplyCache()
        let get = DXLMessage.request(topic: TieTopic.getFileReputation, payload: #"{"hashes": []}"#)
        let key = try #require(ReplyCache.key(for: get))
        #expect(ReplyCache.key(for: .request(topic: TieTopic.setFileReputation, payload: #"{"hashes": []}"#)) == nil)
        #expect(ReplyCache.key(for: .request(topic: TieTopic.getFileReputation, payload: [UInt8](repeating: 32, count: 5_000))) == nil)
        let other = try #require(ReplyCache.key(for: .request(topic: TieTopic.getFileReputation, payload: #"{"hashes": [1]}"#)))
        cache.keep([1, 2, 3], for: key, generation: 7, second: 100)
        #expect(cache.reply(for: key, generation: 7, second: 100) == [1, 2, 3])
        #expect(cache.reply(for: other, generation: 7, second: 100) == nil)
        #expect(cache.reply(for: key, generation: 8, second: 100) == nil)
        #expect(cache.reply(for: key, generation: 7, second: 101) == nil)
        for index in 0..<ReplyCache.capacity {
            cache.keep([0], for: try #require(ReplyCache.key(for: .request(topic: TieTopic.getFileReputation, payload: "\(index)"))), generation: 7, second: 100)
        }
        #expect(cache.count <= ReplyCache.capacity)
        #expect(cache.reply(for: key, generation: 7, second: 100) == nil)  // emptied when full
    }

    @Test("did-you-mean suggests the closest key within a small distance, and nothing for far-off words")
    func didYouMean() {
        #expect(DidYouMean.suggestion(for: "fils", among: ["files", "faults", "fabric"]) == "files")
        #expect(DidYouMean.suggestion(for: "TIMELINE", among: ["timeline", "time"]) == "timeline")
        #expect(DidYouMean.suggestion(for: "xyz", among: ["files", "timeline"]) == nil)
        #expect(DidYouMean.editDistance("kitten", "sitting") == 3)
        #expect(DidYouMean.editDistance("", "abc") == 3)
    }
}
