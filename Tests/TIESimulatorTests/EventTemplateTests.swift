import DXLWire
import Testing
@testable import TIESimulator

@Suite("Event templates")
struct EventTemplateTests {
    /// What the template must render: the body serialized with the values in place of the markers.
    func direct(_ body: JSONValue, agent: String, time: Int64) -> [UInt8] {
        func fill(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(EventTemplate.agentMarker): return .string(agent)
            case .string(EventTemplate.timeMarker): return .int(time)
            case .array(let elements): return .array(elements.map(fill))
            case .object(let members): return .object(members.mapValues(fill))
            default: return value
            }
        }
        return fill(body).serializedBytes(style: .python)
    }

    @Test("rendering equals serializing the body with the values in place, holes nested, repeated, at either end, or none")
    func rendersAsSerialized() {
        let bodies: [JSONValue] = [
            ["agentGuid": .string(EventTemplate.agentMarker), "detectionTime": .string(EventTemplate.timeMarker), "name": "A.EXE"],
            ["outer": ["agents": [.string(EventTemplate.agentMarker), .string(EventTemplate.agentMarker)]], "t": .string(EventTemplate.timeMarker)],
            .string(EventTemplate.agentMarker),
            ["name": "no holes at all", "n": 5],
            ["a": "@@tiesim-agent", "b": .string("text around \(EventTemplate.agentMarker) is not a hole")],
        ]
        for body in bodies {
            let template = EventTemplate(body)
            for (agent, time) in [("{68125cd6-a5d8-11e6-348e-000c29663178}", Int64(1_481_301_796)), ("quote \" and \\ and é", -1)] {
                #expect(template.render(agent: agent, time: time) == direct(body, agent: agent, time: time),
                        "\(body.serialized())")
            }
        }
    }
}
