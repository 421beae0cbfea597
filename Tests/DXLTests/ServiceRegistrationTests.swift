import DXL
import Testing

@Suite("Service registration bodies")
struct ServiceRegistrationTests {
    @Test("the register body is dxlclient's json_register_service: its members, its order, json.dumps' separators")
    func registerBody() throws {
        let info = ServiceRegistrationInfo(serviceType: "/acme/service", serviceGuid: "{g}", metadata: ["version": "1"],
                                           requestHandlers: ["/acme/b": { _ in }, "/acme/a": { _ in }])
        #expect(String(decoding: info.registerPayload, as: UTF8.self)
            == #"{"serviceType": "/acme/service", "metaData": {"version": "1"}, "requestChannels": ["/acme/a", "/acme/b"], "ttlMins": 60, "serviceGuid": "{g}"}"#)
        #expect(String(decoding: info.unregisterPayload, as: UTF8.self) == #"{"serviceGuid": "{g}"}"#)
    }

    @Test("a service id with quotes still makes valid JSON (it was pasted into the text before)")
    func escapedGuid() throws {
        let info = ServiceRegistrationInfo(serviceType: "/t", serviceGuid: #"{"quoted"\}"#)
        #expect(try JSONValue.parse(info.unregisterPayload)["serviceGuid"] == .string(#"{"quoted"\}"#))
        #expect(try JSONValue.parse(info.registerPayload)["serviceGuid"] == .string(#"{"quoted"\}"#))
    }
}
