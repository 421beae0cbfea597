/// A JSON object's members in the order they were added, as Python's dicts keep them: a payload built
/// member by member is written in that order (unless sorted keys are asked for), and one parsed keeps the
/// order it came in. Two objects are equal when they have the same members, whatever their order. A
/// repeated key keeps its first place and its last value (as `json.loads`).
///
/// TIE's objects have a handful of members: up to `indexThreshold` they are found by comparing keys in
/// order, which is faster than hashing them; a larger object also keeps an index by key, and a member
/// removed from it leaves a gap that is closed once gaps are half the slots, so that lookups, parsing and
/// removals stay linear in all however many members hostile input brings.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Member = (key: String, value: JSONValue)
    /// The members in order; nil for a removed member of an indexed object (a gap).
    private var slots: [Member?] = []
    /// Members present (slots less gaps).
    public private(set) var count = 0
    /// Slot by key; only for objects that grew past `indexThreshold` members.
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
        slots.reserveCapacity(capacity)
    }

    private func slot(of key: String) -> Int? {
        if let index { return index[key] }
        return slots.firstIndex { $0?.key == key }
    }

    /// The member `key`; setting nil removes it (a new key goes last, an existing one keeps its place).
    public subscript(key: String) -> JSONValue? {
        get { slot(of: key).flatMap { slots[$0]?.value } }
        set {
            let found = slot(of: key)
            switch (found, newValue) {
            case (let slot?, let value?):
                slots[slot]!.value = value
            case (nil, let value?):
                slots.append((key, value))
                count += 1
                if index != nil {
                    index![key] = slots.count - 1
                } else if count > Self.indexThreshold {
                    reindex()
                }
            case (let slot?, nil):
                count -= 1
                if index == nil {
                    slots.remove(at: slot)
                } else {
                    slots[slot] = nil
                    index![key] = nil
                    if slots.count - count > slots.count / 2 { compact() }
                }
            case (nil, nil):
                break
            }
        }
    }

    /// Closes the gaps and indexes the members again.
    private mutating func compact() {
        slots = slots.filter { $0 != nil }
        reindex()
    }

    private mutating func reindex() {
        var positions: [String: Int] = Dictionary(minimumCapacity: slots.count)
        for (position, member) in slots.enumerated() { if let member { positions[member.key] = position } }
        index = positions
    }

    public var isEmpty: Bool { count == 0 }
    /// The keys, in order.
    public var keys: [String] { slots.compactMap { $0?.key } }
    /// The values, in the keys' order.
    public var values: [JSONValue] { slots.compactMap { $0?.value } }
    /// The members as a dictionary (order dropped).
    public var dictionary: [String: JSONValue] {
        Dictionary(slots.compactMap { $0.map { ($0.key, $0.value) } }, uniquingKeysWith: { _, last in last })
    }

    /// The same keys in the same order, each value transformed.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var result = self
        for slot in result.slots.indices where result.slots[slot] != nil {
            result.slots[slot]!.value = try transform(result.slots[slot]!.value)
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
        fileprivate var slots: IndexingIterator<[Member?]>
        public mutating func next() -> Member? {
            while let slot = slots.next() { if let member = slot { return member } }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(slots: slots.makeIterator()) }
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
}
