/// MQTT topic filters: `+` is one level, a trailing `#` everything below.
public enum MQTTTopic {
    public static func matches(filter: String, topic: String) -> Bool {
        if filter == topic || filter == "#" { return true }
        var filterLevels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        var topicLevels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        while let level = filterLevels.popFirst() {
            if level.elementsEqual("#".utf8) { return true }
            guard let topicLevel = topicLevels.popFirst() else { return false }
            if !level.elementsEqual("+".utf8) && !level.elementsEqual(topicLevel) { return false }
        }
        return topicLevels.isEmpty
    }
}
