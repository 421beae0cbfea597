/// A JSON object's members in the order they were added, as Python's dicts keep them: a payload built
/// member by member is written in that order (unless sorted keys are asked for), and one parsed keeps the
/// order it came in. Two objects are equal when they have the same members, whatever their order. A
/// repeated key keeps its first place and its last value (as `json.loads`). Keys are told apart by their
/// code points, as Python's are: "é" and "e" followed by U+0301, one `String` to Swift's `==`, are two keys.
///
/// TIE's objects have a handful of members: up to `indexThreshold` they are found by comparing keys in
/// order, which is faster than hashing them; a larger object also keeps an index by key, and a member
/// removed from it leaves a gap that is closed once gaps are half the slots, so that lookups, parsing and
/// removals stay linear in all however many members hostile input brings.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Member = (key: String, value: JSONValue)
    /// The members in order, with the removed members of an indexed object still in place (see `gaps`).
    private var members: [Member] = []
    /// Which of `members` are removed; only once a member of an indexed object was removed.
    private var gaps: [Bool]?
    /// Members present.
    public private(set) var count = 0
    /// Position by key; only for objects that grew past `indexThreshold` members.
    private var index: [ExactKey: Int]?
    static let indexThreshold = 12

    public init() {}

    /// The members of `dictionary`, in sorted key order (a dictionary has no order of its own to keep).
    public init(_ dictionary: [String: JSONValue]) {
        self.init(dictionary.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// `members` in their order.
    public init<Members: Sequence>(_ members: Members) where Members.Element == (String, JSONValue) {
        for (key, value) in members { self[key] = value }
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    /// Room for `capacity` members without growing.
    public init(minimumCapacity capacity: Int) {
        members.reserveCapacity(capacity)
    }

    private func position(of key: String) -> Int? {
        if let index { return index[ExactKey(key)] }
        return members.firstIndex { ExactKey.same($0.key, key) }
    }

    /// The member `key`; setting nil removes it (a new key goes last, an existing one keeps its place).
    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { members[$0].value } }
        set {
            let found = position(of: key)
            switch (found, newValue) {
            case (let position?, let value?):
                members[position].value = value
            case (nil, let value?):
                members.append((key, value))
                gaps?.append(false)
                count += 1
                if index != nil {
                    index![ExactKey(key)] = members.count - 1
                } else if count > Self.indexThreshold {
                    reindex()
                }
            case (let position?, nil):
                count -= 1
                guard index != nil else {
                    members.remove(at: position)
                    return
                }
                // An indexed object leaves a gap (closed once gaps are half the members), so that
                // removals do not shift and renumber every later member.
                if gaps == nil { gaps = Array(repeating: false, count: members.count) }
                gaps![position] = true
                members[position].value = .null
                index![ExactKey(key)] = nil
                if members.count - count > members.count / 2 { compact() }
            case (nil, nil):
                break
            }
        }
    }

    /// Drops the gaps and indexes the members again.
    private mutating func compact() {
        if let gaps { members = zip(members, gaps).compactMap { $1 ? nil : $0 } }
        gaps = nil
        reindex()
    }

    private mutating func reindex() {
        var positions: [ExactKey: Int] = Dictionary(minimumCapacity: members.count)
        for (position, member) in members.enumerated() { positions[ExactKey(member.key)] = position }
        index = positions
    }

    /// The members in order (without copying them when the object has no gaps).
    var orderedMembers: [Member] {
        guard let gaps else { return members }
        return zip(members, gaps).compactMap { $1 ? nil : $0 }
    }

    public var isEmpty: Bool { count == 0 }
    /// The keys, in order.
    public var keys: [String] { map(\.key) }
    /// The values, in the keys' order.
    public var values: [JSONValue] { map(\.value) }
    /// The members as a dictionary (order dropped; keys that differ only by Unicode normalization, which
    /// a Swift dictionary holds as one, keep the last value).
    public var dictionary: [String: JSONValue] { Dictionary(map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }) }

    /// The same keys in the same order, each value transformed.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var result = self
        for position in result.members.indices where result.gaps?[position] != true {
            result.members[position].value = try transform(result.members[position].value)
        }
        return result
    }

    /// The members whose transformed value is not nil, as a dictionary.
    public func compactMapValues<T>(_ transform: (JSONValue) throws -> T?) rethrows -> [String: T] {
        var result: [String: T] = [:]
        for (key, value) in self { if let transformed = try transform(value) { result[key] = transformed } }
        return result
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let members: [Member]
        fileprivate let gaps: [Bool]?
        fileprivate var position = 0
        public mutating func next() -> Member? {
            if let gaps {
                while position < members.count, gaps[position] { position += 1 }
            }
            guard position < members.count else { return nil }
            defer { position += 1 }
            return members[position]
        }
    }

    public func makeIterator() -> Iterator { Iterator(members: members, gaps: gaps) }
    public var underestimatedCount: Int { count }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.count == b.count else { return false }
        return a.allSatisfy { member in b[member.key] == member.value }
    }

    /// Independent of order: each member hashed on its own, the hashes combined by a commutative sum.
    public func hash(into hasher: inout Hasher) {
        var sum = 0
        for (key, value) in self {
            var member = Hasher()
            member.combine(key)
            member.combine(value)
            sum &+= member.finalize()
        }
        hasher.combine(count)
        hasher.combine(sum)
    }

    /// A key as Python tells keys apart: by its UTF-8 bytes (its code points). Swift's `String` compares
    /// and hashes canonically equivalent texts as one.
    struct ExactKey: Hashable {
        let text: String
        init(_ text: String) { self.text = text }

        static func == (a: ExactKey, b: ExactKey) -> Bool { same(a.text, b.text) }

        func hash(into hasher: inout Hasher) {
            var text = text
            text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }

        /// Whether `a` and `b` have the same UTF-8 bytes.
        @inline(__always)
        static func same(_ a: String, _ b: String) -> Bool {
            a.utf8.count == b.utf8.count && JSONValue.compareUTF8(a, b) == 0
        }
    }
}
