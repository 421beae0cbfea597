/// DXL's topic wildcards: only a trailing `#`, matched by walking up the topic one level at a time.
public enum DXLTopic {
    /// The subscriptions that receive a message on `topic`, most specific first, as `dxlclient`'s
    /// `_wildcard_generator` yields them: `/a/b/c`, `/a/b/#`, `/a/#`, `/#`, `#`.
    public static func candidates(for topic: String) -> [String] {
        var result = [topic]
        var current = Substring(topic)
        if current.hasSuffix("/#") { current = current.dropLast(2) } else if current == "#" { return result }
        while let slash = current.lastIndex(of: "/") {
            current = current[..<slash]
            result.append(String(current) + "/#")
        }
        if topic != "#" { result.append("#") }
        return result
    }

    /// Whether a message on `topic` reaches the subscription `filter` (exact, or a trailing `#` above it).
    public static func matches(filter: String, topic: String) -> Bool {
        if filter == topic || filter == "#" { return true }
        guard filter.hasSuffix("/#") else { return false }
        let prefix = filter.dropLast(1)  // keeps the slash: "/a/" matches "/a/b"
        return topic.hasPrefix(prefix) || topic == String(filter.dropLast(2))
    }
}
