import Foundation

/// Reads a growing log file line by line, returning only what was appended since the last read (mosquitto's
/// log, which tiesim follows to see subscriptions and bridges). A file that shrank was replaced: it is read
/// again from the start. Not thread-safe: keep one per reader, or behind a lock.
public struct LogFollower: Sendable {
    public let path: String
    private var offset: UInt64 = 0
    private var partial = ""

    public init(path: String) {
        self.path = path
    }

    /// The complete lines appended since the last call (at most 8 MiB per call).
    public mutating func newLines() -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd() else { return [] }
        if end < offset {
            offset = 0
            partial = ""
        }
        guard end > offset, (try? handle.seek(toOffset: offset)) != nil else { return [] }
        let data = handle.readData(ofLength: Int(min(end - offset, 8 << 20)))
        offset += UInt64(data.count)
        partial += String(decoding: data, as: UTF8.self)
        var lines: [String] = []
        while let newline = partial.firstIndex(of: "\n") {
            lines.append(String(partial[..<newline]))
            partial.removeSubrange(...newline)
        }
        return lines
    }
}
