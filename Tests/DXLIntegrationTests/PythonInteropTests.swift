import DXL
import DXLFabric
import TestSupport
import Foundation
import Testing

/// The unmodified Python dxlclient 5.7.0.1 against our codec and client, through real mosquitto.
@Suite("Interoperability with the Python dxlclient", .timeLimit(.minutes(3)))
struct PythonInteropTests {
    /// Messages of every type with every field set, as the JSON the Python peer builds them from.
    static func sampleSpecs() -> [[String: Any]] {
        let common: [String: Any] = [
            "source_client_id": "src-client", "source_broker_id": "src-broker",
            "broker_ids": ["b1"], "client_ids": ["c1", "c2"],
            "payload_hex": hex(Array(String(repeating: "p", count: 400).utf8)),
            "other_fields": [["dxl.k", "v"]], "source_tenant_guid": "{tenant}", "destination_tenant_guids": ["{t2}"],
        ]
        var specs: [[String: Any]] = []
        for (index, type) in ["request", "response", "event", "errorResponse"].enumerated() {
            var spec = common
            spec["type"] = type
            spec["message_id"] = "{00000000-0000-0000-0000-00000000000\(index)}"
            switch type {
            case "request":
                spec["reply_to_topic"] = "/mcafee/client/{abc}"
                spec["service_id"] = "{svc}"
            case "response":
                spec["request_message_id"] = "{req}"
                spec["service_id"] = "{svc}"
            case "errorResponse":
                spec["request_message_id"] = "{req}"
                spec["service_id"] = ""
                spec["error_code"] = 0x8000_0001
                spec["error_message"] = "unable to locate service for request"
            default: break
            }
            specs.append(spec)
        }
        var short = specs[2]
        short["payload_hex"] = ""
        short["other_fields"] = [[String]]()
        specs.append(short)
        return specs
    }

    static func message(from spec: [String: Any]) throws -> DXLMessage {
        let type: DXLMessageType = switch spec["type"] as? String {
        case "request": .request
        case "response": .response
        case "errorResponse": .errorResponse
        default: .event
        }
        var message = DXLMessage(type: type, payload: try hexBytes(spec["payload_hex"] as? String ?? ""), messageId: spec["message_id"] as? String ?? "")
        message.sourceClientId = spec["source_client_id"] as? String ?? ""
        message.sourceBrokerId = spec["source_broker_id"] as? String ?? ""
        message.brokerIds = spec["broker_ids"] as? [String] ?? []
        message.clientIds = spec["client_ids"] as? [String] ?? []
        message.replyToTopic = spec["reply_to_topic"] as? String
        message.serviceId = spec["service_id"] as? String ?? ""
        if type == .response || type == .errorResponse { message.requestMessageId = spec["request_message_id"] as? String }
        if type == .errorResponse {
            message.errorCode = Int64(spec["error_code"] as? Int ?? 0)
            message.errorMessage = spec["error_message"] as? String
        }
        message.otherFields = (spec["other_fields"] as? [[String]] ?? []).map { .init($0[0], $0[1]) }
        message.sourceTenantGuid = spec["source_tenant_guid"] as? String ?? ""
        message.destinationTenantGuids = spec["destination_tenant_guids"] as? [String] ?? []
        return message
    }

    static func jsonLine(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("messages Python encodes are decoded by our codec field for field and re-encoded byte for byte")
    func pythonEncodesSwiftDecodes() async throws {
        let specs = Self.sampleSpecs()
        let lines = try await PythonPeer.run(["encode"], stdin: try specs.map(Self.jsonLine).joined(separator: "\n") + "\n")
        #expect(lines.count == specs.count)
        for (spec, line) in zip(specs, lines) {
            let bytes = try hexBytes(line)
            let decoded = try DXLMessageCodec.decode(bytes)
            var expected = try Self.message(from: spec)
            expected.version = 2
            #expect(decoded == expected)
            #expect(DXLMessageCodec.encode(decoded) == bytes)
            #expect(DXLMessageCodec.encode(expected) == bytes, "our encoding of \(spec["type"] ?? "") differs from dxlclient's")
        }
    }

    @Test("messages our codec encodes are decoded by Python field for field")
    func swiftEncodesPythonDecodes() async throws {
        let specs = Self.sampleSpecs()
        let messages = try specs.map(Self.message(from:))
        var input = messages.map { hex(DXLMessageCodec.encode($0)) }
        // The broker's int32 error code form reads as a negative number in Python, as the spec says.
        var brokerError = messages[3]
        brokerError.errorCode = DXLErrorCode.brokerWireForm(DXLErrorCode.serviceUnavailable)
        input.append(hex(DXLMessageCodec.encode(brokerError)))
        let lines = try await PythonPeer.run(["decode"], stdin: input.joined(separator: "\n") + "\n")
        #expect(lines.count == input.count)
        for (index, line) in lines.enumerated() {
            let seen = try PythonPeer.json(line)
            let spec = index < specs.count ? specs[index] : specs[3]
            for key in ["message_id", "source_client_id", "source_broker_id", "payload_hex", "source_tenant_guid", "type"] {
                #expect(seen[key] as? String == spec[key] as? String, "field \(key) of message \(index)")
            }
            #expect(seen["broker_ids"] as? [String] == spec["broker_ids"] as? [String])
            #expect(seen["client_ids"] as? [String] == spec["client_ids"] as? [String])
            #expect(seen["destination_tenant_guids"] as? [String] == spec["destination_tenant_guids"] as? [String])
            #expect(seen["other_fields"] as? [[String]] == spec["other_fields"] as? [[String]])
            #expect(seen["version"] as? Int == 2)
            if let reply = spec["reply_to_topic"] as? String { #expect(seen["reply_to_topic"] as? String == reply) }
            if let requestId = spec["request_message_id"] as? String { #expect(seen["request_message_id"] as? String == requestId) }
            if spec["type"] as? String == "errorResponse" {
                #expect(seen["error_message"] as? String == "unable to locate service for request")
                #expect(seen["error_code"] as? Int == (index < specs.count ? 2_147_483_649 : -2_147_483_647))
            }
        }
    }

    @Test("a Python send_event reaches a Swift subscriber with the same topic, message id and payload")
    func pythonEventToSwift() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let subscriber = try await fabric.connectedClient()
        let inbox = EventInbox<DXLMessage>()
        try await subscriber.addEventCallback(topic: "/mcafee/event/tie/file/detection") { inbox.append($0) }
        let payload = #"{"agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "name": "FOCUS_MALWARE2.EXE"}"#
        let lines = try await PythonPeer.run(["send-event", try fabric.writePythonConfig(), "/mcafee/event/tie/file/detection", payload])
        let received = await inbox.wait(for: 1)
        #expect(received.count == 1)
        #expect(received.first?.messageId == lines.last)
        #expect(received.first?.destinationTopic == "/mcafee/event/tie/file/detection")
        #expect(received.first?.payloadString == payload)
        await subscriber.disconnect()
    }

    @Test("a Swift event reaches a Python EventCallback with the same topic, message id and payload")
    func swiftEventToPython() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let listener = try PythonPeer(["listen", try fabric.writePythonConfig(), "/mcafee/event/tie/#", "1", "20"])
        defer { listener.stop() }
        try await listener.waitForLine { $0 == "READY" }
        let publisher = try await fabric.connectedClient()
        let event = DXLMessage.event(topic: "/mcafee/event/tie/file/firstinstance", payload: #"{"name":"MORPH.EXE"}"#)
        try publisher.send(event)
        let line = try await listener.waitForLine { $0.hasPrefix("{") }
        let seen = try PythonPeer.json(line)
        #expect(seen["topic"] as? String == event.destinationTopic)
        #expect(seen["message_id"] as? String == event.messageId)
        #expect(seen["payload_hex"] as? String == hex(event.payload))
        await publisher.disconnect()
    }

    @Test("a Python sync_request is answered by a Swift service registered with the registry")
    func pythonRequestToSwiftService() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let registry = try await MinimalRegistry.start(fabric)
        let service = try await fabric.connectedClient(client: "service")
        let info = ServiceRegistrationInfo(serviceType: "/tiesim/test", requestHandlers: [
            "/tiesim/test/echo": { request in try? service.send(.response(to: request, payload: "echo:" + request.payloadString)) },
        ])
        try await service.registerService(info, timeout: .seconds(5))
        // The register event goes to the watcher as the response goes to the service: either may come first.
        #expect(await registry.registered.wait(for: 1).contains { $0.contains(info.serviceGuid) })
        let lines = try await PythonPeer.run(["request", try fabric.writePythonConfig(), "/tiesim/test/echo", "ping", "10"])
        let seen = try PythonPeer.json(try #require(lines.last))
        #expect(seen["type"] as? String == "response")
        #expect(seen["payload_hex"] as? String == hex(Array("echo:ping".utf8)))
        #expect(seen["request_message_id"] as? String == seen["sent_message_id"] as? String)
        await service.disconnect()
        await registry.unregistered.wait(for: 1)
        #expect(registry.unregistered.all.contains { $0.contains(info.serviceGuid) })
        await registry.client.disconnect()
    }

    @Test("a Swift request is answered by a Python service registered with register_service_sync")
    func swiftRequestToPythonService() async throws {
        let fabric = try await TestBroker.start()
        defer { fabric.stop() }
        let registry = try await MinimalRegistry.start(fabric)
        let service = try PythonPeer(["serve", try fabric.writePythonConfig(), "/tiesim/test/python-echo"])
        defer { service.stop() }
        try await service.waitForLine { $0 == "READY" }
        let registeredIn = try PythonPeer.json(try #require(service.output.first)) ["registered_in"] as? Double
        #expect((registeredIn ?? 99) < 2, "register_service_sync must be answered promptly")
        let requester = try await fabric.connectedClient()
        let request = DXLMessage.request(topic: "/tiesim/test/python-echo", payload: "hello")
        let response = try await requester.request(request, timeout: .seconds(10))
        #expect(response.type == .response)
        #expect(response.requestMessageId == request.messageId)
        #expect(response.payloadString == "echo:hello")
        service.closeInput()
        try await service.waitForExit(timeout: .seconds(20))
        let unregisteredIn = try service.output.filter { $0.hasPrefix("{") }.map(PythonPeer.json).compactMap { $0["unregistered_in"] as? Double }.first
        #expect((unregisteredIn ?? 99) < 5)
        await registry.unregistered.wait(for: 1)
        #expect(registry.registered.count >= 1 && registry.unregistered.count >= 1)
        await requester.disconnect()
        await registry.client.disconnect()
    }
}

/// What the broker's registry announces: its register and unregister events, as any client sees them.
struct MinimalRegistry {
    let client: DXLClient
    let registered = EventInbox<String>()
    let unregistered = EventInbox<String>()

    static func start(_ fabric: TestBroker) async throws -> MinimalRegistry {
        let client = try await fabric.connectedClient()
        let registry = MinimalRegistry(client: client)
        try await client.addEventCallback(topic: ServiceRegistryTopic.registerEvent) { [registered = registry.registered] event in
            registered.append(event.payloadString)
        }
        try await client.addEventCallback(topic: ServiceRegistryTopic.unregisterEvent) { [unregistered = registry.unregistered] event in
            unregistered.append(event.payloadString)
        }
        return registry
    }
}
