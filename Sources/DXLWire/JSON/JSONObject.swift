/// A JSON object's members in the order they were added, as Python's dicts keep them: a payload built
/// member by member is written in that order (unless sorted keys are asked for), and one parsed keeps the
/// order it came in. Two objects are equal when they have the same members, whatever their order. A
/// repeated key keeps its first place and its last value (as `json.loads`).
///
/// TIE's objects have a handful of members: up to `indexThreshold` they are found by comparing keys in
/// order, which is faster than hashing them; a larger object also keeps an index by key, so that lookups
/// and parsing stay linear however many members hostile input brings.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    private var members: [(key: String, value: JSONValue)] = []
    /// Position by key; only for objects of more than `indexThreshold` members.
    private var index: [String: Int]?
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
        if let index { return index[key] }
        return members.firstIndex { $0.key == key }
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
                if index != nil {
                    index![key] = members.count - 1
                } else if members.count > Self.indexThreshold {
                    index = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($0.element.key, $0.offset) })
                }
            case (let position?, nil):
                members.remove(at: position)
                if index != nil { index = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($0.element.key, $0.offset) }) }
            case (nil, nil):
                break
            }
        }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    /// The keys, in order.
    public var keys: [String] { members.map(\.key) }
    /// The values, in the keys' order.
    public var values: [JSONValue] { members.map(\.value) }
    /// The members as a dictionary (order dropped).
    public var dictionary: [String: JSONValue] { Dictionary(members, uniquingKeysWith: { _, last in last }) }

    /// The same keys in the same order, each value transformed.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var result = self
        for position in result.members.indices { result.members[position].value = try transform(result.members[position].value) }
        return result
    }

    /// The members whose transformed value is not nil, as a dictionary.
    public func compactMapValues<T>(_ transform: (JSONValue) throws -> T?) rethrows -> [String: T] {
        var result: [String: T] = [:]
        for (key, value) in members { if let transformed = try transform(value) { result[key] = transformed } }
        return result
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { members.makeIterator() }
    public var underestimatedCount: Int { members.count }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.count == b.count else { return false }
        return a.members.allSatisfy { member in b[member.key] == member.value }
    }

    /// Independent of order: each member hashed on its own, the hashes combined by a commutative sum.
    public func hash(into hasher: inout Hasher) {
        var sum = 0
        for (key, value) in members {
            var member = Hasher()
            member.combine(key)
            member.combine(value)
            sum &+= member.finalize()
        }
        hasher.combine(count)
        hasher.combine(sum)
    }
}
