import Foundation
import Synchronization
import TIE

/// What TIE knows now: files and certificates with their reputations and first references, indexed by
/// every hash, changed by set requests, reputation-change steps and external reports.
///
/// Threading: every method may be called from any thread; one `Mutex` guards the tables, and lookups
/// are dictionary reads, so lookup time stays flat as the store grows.
public final class ReputationStore: Sendable {
    /// A file as the store holds it.
    public struct FileRecord: Sendable, Equatable {
        public var name: String
        public var md5: String?
        public var sha1: String?
        public var sha256: String?
        /// Reputations by provider id.
        public var reputations: [Int: Reputation]
        public var firstReferences: [FirstReference]
        public var certificate: String?
        /// Whether the scenario defined it (false: created by a set or a report).
        public var defined: Bool

        /// The hashes as `(type, hex)` in md5, sha1, sha256 order, leaving out unknown ones.
        public var hashes: [(type: String, hex: String)] {
            [("md5", md5), ("sha1", sha1), ("sha256", sha256)].compactMap { pair in pair.1.map { (pair.0, $0) } }
        }
    }

    /// A certificate as the store holds it.
    public struct CertificateRecord: Sendable, Equatable {
        public var name: String
        public var sha1: String
        public var publicKeySha1: String?
        public var reputations: [Int: Reputation]
        public var firstReferences: [FirstReference]
        public var defined: Bool
    }

    /// What a file lookup found.
    public enum FileLookup: Sendable, Equatable {
        case found(FileRecord)
        case unknown
        /// The hashes belong to different files.
        case conflict([String])
    }

    private struct Tables {
        var files: [FileRecord] = []
        var index: [String: Int] = [:]  // "md5:<hex>" → position in files
        var certificates: [CertificateRecord] = []
        var certificateIndex: [String: Int] = [:]  // sha1 hex → position
    }

    private let tables = Mutex(Tables())
    private let initial = Mutex<[Scenario]>([])
    /// Counts the changes of the tables (raised under their lock): what was read at one generation
    /// holds until the generation moves.
    private let changes = Atomic<UInt64>(0)

    /// The tables' generation now; any change (load, reset, set) moves it.
    public var generation: UInt64 { changes.load(ordering: .acquiring) }

    /// Runs `body` on the tables under their lock, as a change.
    private func change<Result, Failure: Error>(_ body: (inout Tables) throws(Failure) -> Result) throws(Failure) -> Result {
        try tables.withLock { tables throws(Failure) -> Result in
            defer { changes.add(1, ordering: .releasing) }
            return try body(&tables)
        }
    }

    public init() {}

    /// Creates a store that knows what `scenarios` define.
    public convenience init(scenarios: [Scenario]) {
        self.init()
        for scenario in scenarios { load(scenario) }
    }

    /// Adds what `scenario` defines (later definitions of the same hashes replace earlier ones), and
    /// (with `keepAfterReset`) remembers it so `reset()` returns to it.
    public func load(_ scenario: Scenario, keepAfterReset: Bool = true) {
        if keepAfterReset { initial.withLock { $0.append(scenario) } }
        change { Self.add(scenario, to: &$0) }
    }

    /// Forgets every change since loading: the store holds what the loaded scenarios define, again.
    public func reset() {
        let scenarios = initial.withLock { $0 }
        change { tables in
            tables = Tables()
            for scenario in scenarios { Self.add(scenario, to: &tables) }
        }
    }

    /// Forgets everything, loaded scenarios included.
    public func clear() {
        initial.withLock { $0.removeAll() }
        change { $0 = Tables() }
    }

    private static func add(_ scenario: Scenario, to tables: inout Tables) {
        for certificate in scenario.certificates {
            let record = CertificateRecord(
                name: certificate.name, sha1: certificate.sha1, publicKeySha1: certificate.publicKeySha1,
                reputations: Dictionary(certificate.reputations.map { ($0.providerId, $0) }, uniquingKeysWith: { _, last in last }),
                firstReferences: certificate.firstReferences, defined: true
            )
            if let position = tables.certificateIndex[certificate.sha1] {
                tables.certificates[position] = record
            } else {
                tables.certificateIndex[certificate.sha1] = tables.certificates.count
                tables.certificates.append(record)
            }
        }
        for file in scenario.files {
            let record = FileRecord(
                name: file.name, md5: file.md5, sha1: file.sha1, sha256: file.sha256,
                reputations: Dictionary(file.reputations.map { ($0.providerId, $0) }, uniquingKeysWith: { _, last in last }),
                firstReferences: file.firstReferences, certificate: file.certificate, defined: true
            )
            insert(record, into: &tables)
        }
    }

    private static func insert(_ record: FileRecord, into tables: inout Tables) {
        var position: Int?
        for (type, hex) in record.hashes where position == nil { position = tables.index["\(type):\(hex)"] }
        if let position {
            tables.files[position] = record
            for (type, hex) in record.hashes { tables.index["\(type):\(hex)"] = position }
        } else {
            let position = tables.files.count
            tables.files.append(record)
            for (type, hex) in record.hashes { tables.index["\(type):\(hex)"] = position }
        }
    }

    /// Finds the file that has all of `hashes` (any subset of its hashes finds it).
    public func file(hashes: [(type: String, hex: String)]) -> FileLookup {
        tables.withLock { Self.lookup(hashes, in: $0) }
    }

    private static func lookup(_ hashes: [(type: String, hex: String)], in tables: Tables) -> FileLookup {
        var positions = Set<Int>()
        var missing = false
        for (type, hex) in hashes {
            if let position = tables.index["\(type):\(hex.lowercased())"] { positions.insert(position) } else { missing = true }
        }
        if positions.count > 1 { return .conflict(positions.sorted().map { tables.files[$0].name }) }
        guard let position = positions.first else { return .unknown }
        // A hash that is not the found file's own, next to one that is, names another (unknown) file.
        if missing {
            let record = tables.files[position]
            for (type, hex) in hashes {
                let own = type == "md5" ? record.md5 : type == "sha1" ? record.sha1 : type == "sha256" ? record.sha256 : nil
                if let own, own != hex.lowercased() { return .conflict([record.name, "an unknown file"]) }
            }
        }
        return .found(tables.files[position])
    }

    /// The file called `name`.
    public func file(named name: String) -> FileRecord? {
        tables.withLock { $0.files.first { $0.name == name } }
    }

    /// Sets provider `providerId`'s reputation of the file with `hashes`, creating the file with the
    /// `initial` reputations when it is unknown (every other provider's record is kept); returns the
    /// reputations before and after.
    public func setFileReputation(hashes: [(type: String, hex: String)], providerId: Int, trustLevel: Int, filename: String?, now: Int64,
                                  initial: [Int: Reputation] = [:]) throws(StoreError) -> (old: FileRecord, new: FileRecord) {
        try change { tables throws(StoreError) in
            var record: FileRecord
            switch Self.lookup(hashes, in: tables) {
            case .found(let found): record = found
            case .conflict(let names): throw .conflictingHashes(names)
            case .unknown:
                record = FileRecord(name: filename ?? "", reputations: initial, firstReferences: [], defined: false)
            }
            let old = record
            for (type, hex) in hashes {
                switch type {
                case "md5": record.md5 = hex.lowercased()
                case "sha1": record.sha1 = hex.lowercased()
                case "sha256": record.sha256 = hex.lowercased()
                default: break
                }
            }
            if record.name.isEmpty, let filename { record.name = filename }
            record.reputations[providerId] = Self.changed(record.reputations[providerId], provider: providerId, trustLevel: trustLevel, now: now)
            Self.insert(record, into: &tables)
            return (old, record)
        }
    }

    /// The certificate with `sha1` (and `publicKeySha1`, when given and known).
    public func certificate(sha1: String, publicKeySha1: String? = nil) -> CertificateRecord? {
        tables.withLock { tables in
            guard let position = tables.certificateIndex[sha1.lowercased()] else { return nil }
            return tables.certificates[position]
        }
    }

    /// The certificate called `name`.
    public func certificate(named name: String) -> CertificateRecord? {
        tables.withLock { $0.certificates.first { $0.name == name } }
    }

    /// Sets provider `providerId`'s reputation of the certificate, creating it with the `initial`
    /// reputations when unknown (every other provider's record is kept).
    public func setCertificateReputation(sha1: String, publicKeySha1: String?, providerId: Int, trustLevel: Int, now: Int64,
                                         initial: [Int: Reputation] = [:]) -> (old: CertificateRecord, new: CertificateRecord) {
        change { tables in
            let key = sha1.lowercased()
            var record: CertificateRecord
            if let position = tables.certificateIndex[key] {
                record = tables.certificates[position]
            } else {
                record = CertificateRecord(name: "", sha1: key, publicKeySha1: publicKeySha1?.lowercased(), reputations: initial, firstReferences: [], defined: false)
            }
            let old = record
            if record.publicKeySha1 == nil { record.publicKeySha1 = publicKeySha1?.lowercased() }
            record.reputations[providerId] = Self.changed(record.reputations[providerId], provider: providerId, trustLevel: trustLevel, now: now)
            if let position = tables.certificateIndex[key] {
                tables.certificates[position] = record
            } else {
                tables.certificateIndex[key] = tables.certificates.count
                tables.certificates.append(record)
            }
            return (old, record)
        }
    }

    /// A provider's reputation after a set to `trustLevel`: the record kept (its create date, its
    /// attributes) with the new level, or a new record created `now`.
    static func changed(_ reputation: Reputation?, provider: Int, trustLevel: Int, now: Int64) -> Reputation {
        var result = reputation ?? Reputation(providerId: provider, trustLevel: trustLevel, createDate: now)
        result.trustLevel = trustLevel
        return result
    }

    /// How many files and certificates the store holds.
    public var counts: (files: Int, certificates: Int) {
        tables.withLock { ($0.files.count, $0.certificates.count) }
    }
}

/// Why the store refused a change.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case conflictingHashes([String])
    public var description: String {
        switch self {
        case .conflictingHashes(let names): return "the hashes belong to different files (\(names.joined(separator: ", ")))"
        }
    }
}
