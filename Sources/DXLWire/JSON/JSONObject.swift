/// A JSON object's members in the order they were added, as Python's dicts keep them: a payload built
/// member by member is written in that order (unless sorted keys are asked for), and one parsed keeps the
/// order it came in. Looked up by key in constant time; two objects are equal when they have the same
/// members, whatever their order. A repeated key keeps its first place and its last value (as `json.loads`).
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// The keys, in order.
    public private(set) var keys: [String] = []
    private var members: [String: JSONValue] = [:]

    public init() {}

    /// The members of `dictionary`, in sorted key order (a dictionary has no order of its own to keep).
    public init(_ dictionary: [String: JSONValue]) {
        keys = dictionary.keys.sorted()
        members = dictionary
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
        keys.reserveCapacity(capacity)
        members.reserveCapacity(capacity)
    }

    /// The member `key`; setting nil removes it (a new key goes last, an existing one keeps its place).
    public subscript(key: String) -> JSONValue? {
        get { members[key] }
        set {
            guard let newValue else {
                if members.removeValue(forKey: key) != nil { keys.removeAll { $0 == key } }
                return
            }
            if members.updateValue(newValue, forKey: key) == nil { keys.append(key) }
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    /// The values, in the keys' order.
    public var values: [JSONValue] { keys.map { members[$0]! } }
    /// The members as a dictionary (order dropped).
    public var dictionary: [String: JSONValue] { members }

    /// The same keys in the same order, each value transformed.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var result = self
        result.members = try members.mapValues(transform)
        return result
    }

    /// The members whose transformed value is not nil, as a dictionary.
    public func compactMapValues<T>(_ transform: (JSONValue) throws -> T?) rethrows -> [String: T] {
        try members.compactMapValues(transform)
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let object: JSONObject
        fileprivate var index = 0
        public mutating func next() -> (key: String, value: JSONValue)? {
            guard index < object.keys.count else { return nil }
            defer { index += 1 }
            let key = object.keys[index]
            return (key, object.members[key]!)
        }
    }

    public func makeIterator() -> Iterator { Iterator(object: self) }
    public var underestimatedCount: Int { keys.count }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.members == b.members }
    public func hash(into hasher: inout Hasher) { hasher.combine(members) }
}
