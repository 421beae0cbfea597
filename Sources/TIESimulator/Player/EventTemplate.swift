import DXLWire
import TIE

/// A step's event body serialized once, with holes for the parts that change from event to event
/// (the agent GUID, the detection time), so that a million-event step costs one splice per event
/// instead of building and serializing JSON each time.
struct EventTemplate {
    enum Slot {
        case agent
        case time
    }

    static let agentMarker = "@@tiesim-agent@@"
    static let timeMarker = "@@tiesim-time@@"

    private var segments: [[UInt8]] = []
    private var slots: [Slot] = []

    /// Serializes `value` (Python `json.dumps` style) and cuts it at the markers.
    init(_ value: JSONValue) {
        let bytes = value.serializedBytes(style: .python)
        let markers: [(Slot, [UInt8])] = [(.agent, Array("\"\(Self.agentMarker)\"".utf8)), (.time, Array("\"\(Self.timeMarker)\"".utf8))]
        var current: [UInt8] = []
        var index = 0
        outer: while index < bytes.count {
            for (slot, marker) in markers where bytes[index] == marker[0] && index + marker.count <= bytes.count
                && bytes[index..<(index + marker.count)].elementsEqual(marker) {
                segments.append(current)
                slots.append(slot)
                current = []
                index += marker.count
                continue outer
            }
            current.append(bytes[index])
            index += 1
        }
        segments.append(current)
    }

    /// The body with `agent` and `time` in their holes.
    func render(agent: String, time: Int64) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(segments.reduce(64) { $0 + $1.count })
        for (index, segment) in segments.enumerated() {
            output.append(contentsOf: segment)
            guard index < slots.count else { break }
            switch slots[index] {
            case .agent: JSONValue.writeString(agent, to: &output)
            case .time: output.append(contentsOf: String(time).utf8)
            }
        }
        return output
    }
}
