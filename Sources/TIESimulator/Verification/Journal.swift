import DXL
import Foundation
import Synchronization
import TIE

/// One thing that happened on the fabric: a request received, an event seen, a step played, or a reply
/// tiesim sent with an error.
public struct JournalEntry: Sendable, Equatable {
    /// What kind of entry it is.
    public enum Kind: String, Sendable {
        case request, event, step, errorReply = "error-reply", fault, denied
    }

    public var kind: Kind
    /// Wall-clock time.
    public var time: Date
    /// Time since the journal started.
    public var offset: Duration
    public var topic: String
    public var messageId: String
    /// Who sent it: the source client id, or the client id in the reply-to topic.
    public var source: String
    /// The payload as received; decoded on demand, so a long timeline costs only its bytes.
    public var rawPayload: [UInt8]
    /// The payload as JSON with hashes in hex (a string when it is not JSON).
    public var payload: JSONValue {
        get { rawPayload.isEmpty ? .null : Journal.decode(rawPayload) }
        set { rawPayload = newValue == .null ? [] : newValue.serializedBytes() }
    }
    /// Steps: the step's name; error replies: the error message.
    public var note: String?

    public init(kind: Kind, time: Date, offset: Duration, topic: String, messageId: String, source: String, payload: JSONValue, note: String? = nil) {
        self.init(kind: kind, time: time, offset: offset, topic: topic, messageId: messageId, source: source,
                  rawPayload: payload == .null ? [] : payload.serializedBytes(), note: note)
    }

    init(kind: Kind, time: Date, offset: Duration, topic: String, messageId: String, source: String, rawPayload: [UInt8], note: String?) {
        self.kind = kind
        self.time = time
        self.offset = offset
        self.topic = topic
        self.messageId = messageId
        self.source = source
        self.rawPayload = rawPayload
        self.note = note
    }

    /// The entry as one JSON object (a line of `--journal`).
    public var json: JSONValue {
        var object: JSONObject = [
            "kind": .string(kind.rawValue),
            "time": .string(ISO8601DateFormatter.journal.string(from: time)),
            "offsetMs": .double((offset.inSeconds * 1000).rounded()),
            "topic": .string(topic), "messageId": .string(messageId), "source": .string(source), "payload": payload,
        ]
        if let note { object["note"] = .string(note) }
        return .object(object)
    }

    /// A one-line summary for failure messages.
    public var summary: String {
        var text = String(format: "+%.3fs %@ %@", offset.inSeconds, kind.rawValue, topic)
        if let note { text += " (\(note))" }
        let body = payload.serialized(style: .python)
        text += " " + (body.count > 300 ? String(body.prefix(300)) + "…" : body)
        return text
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let journal: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}

/// Everything tiesim saw and did, in order: the basis of expectations and reports.
/// Threading: any thread; one `Mutex` guards the entries. Bounded in entries and in bytes: past `limit`
/// entries or `byteLimit` bytes of payloads the oldest go (400 requests of 900 KB grew it by 340 MB).
public final class Journal: Sendable {
    private struct Kept {
        var entries: [JournalEntry] = []
        var bytes = 0
    }
    private let kept = Mutex(Kept())
    private let appended = Atomic<Int>(0)
    private let start = Mutex(ContinuousClock.now)
    private let startDate = Mutex(Date())
    /// Most entries kept.
    public let limit: Int
    /// Most bytes of entries kept (payloads, topics and a fixed cost per entry).
    public let byteLimit: Int

    /// Keeps at most `limit` entries and `byteLimit` bytes (the oldest go first): 100,000 entries and
    /// 128 MiB by default.
    public init(limit: Int = 100_000, byteLimit: Int = 128 << 20) {
        self.limit = limit
        self.byteLimit = byteLimit
    }

    /// What an entry costs in the byte bound.
    static func cost(_ entry: JournalEntry) -> Int {
        entry.rawPayload.count + entry.topic.utf8.count + entry.messageId.utf8.count + entry.source.utf8.count + (entry.note?.utf8.count ?? 0) + 128
    }

    /// When the journal started (offsets count from here).
    public var started: ContinuousClock.Instant { start.withLock { $0 } }

    /// Records a message seen on the fabric.
    public func record(_ message: DXLMessage, kind: JournalEntry.Kind, note: String? = nil) {
        append(JournalEntry(kind: kind, time: Date(), offset: .zero, topic: message.destinationTopic,
                            messageId: message.messageId, source: Self.source(of: message), rawPayload: message.payload, note: note))
    }

    /// Records that a step started.
    public func recordStep(_ name: String, topic: String, scenario: String) {
        append(JournalEntry(kind: .step, time: Date(), offset: .zero, topic: topic, messageId: "",
                            source: scenario, payload: .null, note: name))
    }

    /// Entries recorded since the start or the last `clear()`, with those the bound has dropped.
    public var recordedCount: Int { appended.load(ordering: .acquiring) }

    /// The oldest entries the bounds have dropped since the start or the last `clear()`.
    public var droppedCount: Int {
        let kept = kept.withLock { min($0.entries.count, limit) }
        return max(0, recordedCount - kept)
    }

    /// Appends `entry`, timed under the lock: several threads record, and the entries' order must be
    /// their offsets' order (a page of the journal ends at an offset and the next starts after it).
    func append(_ entry: JournalEntry) {
        var entry = entry
        let started = self.started
        appended.add(1, ordering: .releasing)
        kept.withLock { kept in
            entry.offset = ContinuousClock.now - started
            kept.entries.append(entry)
            kept.bytes += Self.cost(entry)
            // Trim in batches of a tenth, so that a full journal costs O(1) per entry, not a shift each time.
            var drop = kept.entries.count > limit + limit / 10 ? kept.entries.count - limit : 0
            var remaining = drop == 0 ? kept.bytes : kept.bytes - kept.entries[..<drop].reduce(0) { $0 + Self.cost($1) }
            if remaining > byteLimit + byteLimit / 10 {
                while drop < kept.entries.count - 1, remaining > byteLimit {
                    remaining -= Self.cost(kept.entries[drop])
                    drop += 1
                }
            }
            guard drop > 0 else { return }
            kept.bytes = remaining
            kept.entries.removeFirst(drop)
        }
    }

    /// All entries kept (at most `limit`, within `byteLimit`), oldest first.
    public var all: [JournalEntry] { kept.withLock { Array($0.entries.suffix(limit)) } }

    /// The first `count` entries (at most) whose offset is past `afterMs` milliseconds (nil: from the
    /// oldest kept), and how many such entries there are in all. Offsets grow with the entries' order
    /// (they are taken under the lock), so the first is found by bisection: reading a long journal page
    /// by page copies each page, not the journal each time.
    public func entries(afterMs: Double?, count: Int) -> (entries: [JournalEntry], matching: Int) {
        kept.withLock { kept in
            let entries = kept.entries.suffix(limit)
            var low = entries.startIndex, high = entries.endIndex
            if let afterMs {
                while low < high {
                    let middle = low + (high - low) / 2
                    if entries[middle].offset.inSeconds * 1000 > afterMs { high = middle } else { low = middle + 1 }
                }
            }
            let matching = entries.endIndex - low
            return (Array(entries[low..<(low + min(max(count, 0), matching))]), matching)
        }
    }

    /// Bytes of entries kept now.
    public var keptBytes: Int { kept.withLock { $0.bytes } }

    /// Forgets everything and restarts the clock.
    public func clear() {
        kept.withLock { $0 = Kept() }
        appended.store(0, ordering: .releasing)
        start.withLock { $0 = .now }
        startDate.withLock { $0 = Date() }
    }

    /// The journal as JSON Lines.
    public var jsonLines: String {
        all.map { $0.json.serialized() }.joined(separator: "\n") + (all.isEmpty ? "" : "\n")
    }

    static func source(of message: DXLMessage) -> String {
        if !message.sourceClientId.isEmpty { return message.sourceClientId }
        if let reply = message.replyToTopic, reply.hasPrefix("/mcafee/client/") { return String(reply.dropFirst("/mcafee/client/".count)) }
        return ""
    }

    /// The payload as JSON with every TIE hash list turned into `{type: hex}`.
    static func decode(_ payload: [UInt8]) -> JSONValue {
        guard let json = try? JSONValue.parse(payload) else { return .string(String(decoding: payload, as: UTF8.self)) }
        return hexHashes(json)
    }

    static func hexHashes(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            for (key, member) in members {
                if key == "hashes", case .array = member, let hex = try? HashEncoding.transformHashes(member) {
                    members[key] = hex
                } else if key == "publicKeySha1", let b64 = member.stringValue, b64.count == 28, let hex = try? HashEncoding.hex(base64: b64) {
                    members[key] = .string(hex)
                } else {
                    members[key] = hexHashes(member)
                }
            }
            return .object(members)
        case .array(let elements):
            return .array(elements.map(hexHashes))
        default:
            return value
        }
    }
}
