/// A topic as mosquitto hands it over: a C string, made into a Swift `String` only when something needs
/// it (most messages need no more than a prefix check). Valid during the call it is passed to.
public struct TopicName {
    private let pointer: UnsafePointer<CChar>?
    private let text: String?

    public init(_ text: String) {
        self.text = text
        pointer = nil
    }

    public init(cString: UnsafePointer<CChar>) {
        pointer = cString
        text = nil
    }

    /// The topic as a `String`.
    public var string: String { text ?? String(cString: pointer!) }

    /// Whether the topic starts with `prefix`, without making a `String`.
    public func hasPrefix(_ prefix: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        if let text { return text.utf8.starts(with: expected) }
        guard let pointer else { return false }
        for (index, byte) in expected.enumerated() where UInt8(bitPattern: pointer[index]) != byte { return false }
        return true
    }
}
