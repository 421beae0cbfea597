import Testing
import TestSupport
@testable import DXL

@Suite("DXL message codec")
struct DXLMessageCodecTests {
    @Test("the 65-byte event of spec §1.5 is written byte for byte")
    func specEventIsByteIdentical() throws {
        let expected = try hexBytes("02 02 da 00 26 7b 33 66 32 35 30 34 65 30 2d 34 66 38 39 2d 34 31 64 33 2d 39 61 30 63 2d 30 33 30 35 65 38 32 63 33 33 30 31 7d a0 a0 90 90 ae 7b 22 68 61 73 68 22 3a 22 61 62 63 22 7d 90 a0 90")
        let event = DXLMessage(type: .event, destinationTopic: "/mcafee/event/tie/file/detection",
                               payload: Array(#"{"hash":"abc"}"#.utf8), messageId: "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}")
        let bytes = DXLMessageCodec.encode(event)
        #expect(bytes.count == 65)
        #expect(bytes == expected)
        let decoded = try DXLMessageCodec.decode(expected, topic: "/mcafee/event/tie/file/detection")
        #expect(decoded == event)
    }

    @Test("the captured dxlclient detection event decodes field for field and re-encodes identically")
    func capturedDetectionEvent() throws {
        let bytes = try fixture("dxlclient-detection-event.hex")
        #expect(bytes.count == 415)
        let message = try DXLMessageCodec.decode(bytes)
        #expect(message.version == 2)
        #expect(message.type == .event)
        #expect(message.messageId == "{ab4f6889-4471-4b32-8b10-ece98f73146f}")
        #expect(message.sourceClientId == "")
        #expect(message.brokerIds.isEmpty && message.clientIds.isEmpty)
        #expect(message.payloadString.hasPrefix(#"{"agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "detectionTime": 1481301796"#))
        #expect(message.payloadString.hasSuffix(#""name": "FOCUS_MALWARE2.EXE", "remediationAction": 5}"#))
        #expect(message.payload.count == 362)
        #expect(DXLMessageCodec.encode(message) == bytes)
    }

    @Test("the captured dxlclient request and its response decode and re-encode identically")
    func capturedRequestAndResponse() throws {
        let requestBytes = try fixture("dxlclient-request.hex")
        let request = try DXLMessageCodec.decode(requestBytes)
        #expect(request.type == .request)
        #expect(request.messageId == "{cc1e125a-e9ac-43b6-ad15-0b00910bbe73}")
        #expect(request.payloadString == "ping")
        #expect(request.replyToTopic == "/mcafee/client/{eb8da336-eaeb-4c1e-bd57-175ecf2b0a1b}")
        #expect(request.serviceId == "")
        #expect(DXLMessageCodec.encode(request) == requestBytes)

        let responseBytes = try fixture("dxlclient-response.hex")
        let response = try DXLMessageCodec.decode(responseBytes)
        #expect(response.type == .response)
        #expect(response.requestMessageId == request.messageId)
        #expect(response.payloadString == "echo:ping")
        #expect(DXLMessageCodec.encode(response) == responseBytes)

        var built = DXLMessage.response(to: request, payload: "echo:ping")
        built.messageId = response.messageId
        #expect(DXLMessageCodec.encode(built) == responseBytes)
    }

    @Test("the fabric's no-service error is written in the broker's int32 form")
    func noServiceErrorIsInt32() throws {
        var request = DXLMessage.request(topic: "/x", payload: "")
        request.replyToTopic = "/mcafee/client/{c}"
        let error = DXLMessage.errorResponse(to: request, code: DXLErrorCode.brokerWireForm(DXLErrorCode.serviceUnavailable),
                                             message: DXLErrorCode.serviceUnavailableMessage)
        let bytes = DXLMessageCodec.encode(error)
        let tail = try hexBytes("a0 da 00 26") + Array(request.messageId.utf8) + [0xa0, 0xd2, 0x80, 0x00, 0x00, 0x01, 0xda, 0x00, 0x24]
            + Array("unable to locate service for request".utf8) + [0x90, 0xa0, 0x90]
        #expect(Array(bytes.suffix(tail.count)) == tail)
        let decoded = try DXLMessageCodec.decode(bytes)
        #expect(decoded.errorCode == -2_147_483_647)
        #expect(decoded.normalizedErrorCode == 0x8000_0001)
    }

    @Test("an error code written as uint32, as dxlclient does, normalises to the same code")
    func uint32ErrorCode() throws {
        var message = DXLMessage(type: .errorResponse, messageId: "{x}")
        message.errorCode = 0x8000_0001
        message.errorMessage = "unable to locate service for request"
        let bytes = DXLMessageCodec.encode(message)
        #expect(bytes.contains(0xce))
        let decoded = try DXLMessageCodec.decode(bytes)
        #expect(decoded.errorCode == 2_147_483_649)
        #expect(decoded.normalizedErrorCode == DXLErrorCode.serviceUnavailable)
    }

    @Test("a request with other fields matches the spec's byte layout")
    func requestWithOtherFields() throws {
        var request = DXLMessage.request(topic: "/t", payload: "")
        request.replyToTopic = "/mcafee/client/{c}"
        request.otherFields = [.init("k", "v")]
        let bytes = DXLMessageCodec.encode(request)
        let tail = try hexBytes("a0 b2") + Array("/mcafee/client/{c}".utf8) + hexBytes("a0 92 a1 6b a1 76 a0 90")
        #expect(Array(bytes.suffix(tail.count)) == tail)
    }

    @Test("every type round-trips at every version 0 to 3", arguments: DXLMessageType.allCases, 0...3)
    func roundTrip(type: DXLMessageType, version: Int) throws {
        var message = DXLMessage(type: type, destinationTopic: "/a/b", payload: Array(repeating: 0x41, count: 300))
        message.sourceClientId = "client-1"
        message.sourceBrokerId = "broker-1"
        message.brokerIds = ["b1", "b2"]
        message.clientIds = ["c1"]
        message.serviceId = type == .event ? "" : "{svc}"
        if type == .request { message.replyToTopic = "/mcafee/client/{me}" }
        if type == .response || type == .errorResponse { message.requestMessageId = "{req}" }
        if type == .errorResponse {
            message.errorCode = -2_147_483_647
            message.errorMessage = "unable to locate service for request"
        }
        if version >= 1 { message.otherFields = [.init("dxl.certs", "aa;bb"), .init("x", "")] }
        if version >= 2 {
            message.sourceTenantGuid = "{tenant}"
            message.destinationTenantGuids = ["{t1}"]
        }
        if version >= 3 { message.sourceClientInstanceId = "{instance}" }
        message.version = version
        let bytes = DXLMessageCodec.encode(message, version: version)
        let decoded = try DXLMessageCodec.decode(bytes, topic: "/a/b")
        #expect(decoded == message)
        #expect(DXLMessageCodec.encode(decoded, version: version) == bytes)
    }

    @Test("the event encoder writes what encode writes for the same event, with a new id each time", arguments: 0...3)
    func eventEncoder(version: Int) throws {
        var template = DXLMessage.event(topic: "", payload: [])
        template.sourceClientId = "tiesim-player-1"
        template.sourceBrokerId = "{broker}"
        template.brokerIds = ["b1"]
        if version >= 1 { template.otherFields = [.init("k", "v")] }
        if version >= 2 { template.sourceTenantGuid = "{tenant}" }
        let encoder = DXLEventEncoder(template: template, version: version)
        var ids = Set<String>()
        for size in [0, 1, 31, 32, 300, 70_000] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let bytes = encoder.encode(payload: payload)
            let decoded = try DXLMessageCodec.decode(bytes, topic: "/t")
            var expected = template
            expected.messageId = decoded.messageId
            expected.destinationTopic = "/t"
            expected.payload = payload
            expected.version = version
            #expect(decoded == expected)
            #expect(DXLMessageCodec.encode(expected, version: version) == bytes)
            #expect(decoded.messageId.wholeMatch(of: /\{[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}/) != nil)
            ids.insert(decoded.messageId)
        }
        #expect(ids.count == 6)
    }

    @Test("nil is accepted wherever a string is expected")
    func nilStrings() throws {
        // version 2, request, nil id/source/broker, [] [], nil payload, nil reply-to, nil service, [] other, nil tenant, []
        let bytes: [UInt8] = [0x02, 0x00, 0xc0, 0xc0, 0xc0, 0x90, 0x90, 0xc0, 0xc0, 0xc0, 0x90, 0xc0, 0x90]
        let message = try DXLMessageCodec.decode(bytes)
        #expect(message.type == .request)
        #expect(message.messageId == "")
        #expect(message.replyToTopic == nil)
        #expect(message.payload.isEmpty)
        // and re-encoding a nil reply-to writes nil again, as dxlclient does for an unsent request
        #expect(DXLMessageCodec.encode(message).contains(0xc0))
    }

    @Test("trailing fields of newer versions are ignored, as dxlclient does")
    func trailingDataIgnored() throws {
        var bytes = DXLMessageCodec.encode(.event(topic: "/x", payload: "p"), version: 3)
        bytes[0] = 7
        bytes += [0xa3, 0x61, 0x62, 0x63]
        let message = try DXLMessageCodec.decode(bytes)
        #expect(message.version == 7)
        #expect(message.payloadString == "p")
    }

    @Test("str8 and bin payloads from other writers are read")
    func str8AndBinAccepted() throws {
        let str8: [UInt8] = [0x02, 0x02, 0xd9, 0x03] + Array("{i}".utf8) + [0xa0, 0xa0, 0x90, 0x90, 0xc4, 0x02, 0x68, 0x69, 0x90, 0xa0, 0x90]
        let message = try DXLMessageCodec.decode(str8)
        #expect(message.messageId == "{i}")
        #expect(message.payloadString == "hi")
    }

    @Test("strings of 32 to 65535 bytes use da, never d9")
    func str16ForMediumStrings() {
        var writer = MessagePackWriter()
        writer.writeString(String(repeating: "x", count: 32))
        #expect(Array(writer.bytes.prefix(3)) == [0xda, 0x00, 0x20])
        var big = MessagePackWriter()
        big.writeRaw([UInt8](repeating: 1, count: 70_000))
        #expect(big.bytes[0] == 0xdb)
        var small = MessagePackWriter()
        small.writeString(String(repeating: "x", count: 31))
        #expect(small.bytes[0] == 0xbf)
    }

    @Test("every truncation of a valid message is a typed error")
    func everyTruncationFails() throws {
        for name in ["dxlclient-detection-event.hex", "dxlclient-request.hex", "dxlclient-response.hex"] {
            let bytes = try fixture(name)
            for length in 0..<bytes.count {
                #expect(throws: DXLDecodingError.self) { try DXLMessageCodec.decode(Array(bytes.prefix(length))) }
            }
        }
    }

    @Test("corrupted inputs give typed errors")
    func corruptedInputs() throws {
        let cases: [([UInt8], DXLDecodingError)] = [
            ([], .empty),
            ([0x02, 0x09], .unknownMessageType(9)),
            ([0xff, 0x02], .unsupportedVersion(-1)),
            ([0x02, 0x02, 0x05], .malformedField(field: "message_id", .unexpectedType(expected: "a string", byte: 0x05, offset: 2))),
            ([0x02, 0x02, 0xa0, 0xa0, 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff], .malformedField(field: "broker_ids", .implausibleLength(offset: 5, length: 0xffff_ffff))),
            ([0x02, 0x02, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x00], .malformedField(field: "message_id", .truncated(offset: 2))),
            ([0x02, 0x02, 0xa2, 0xff, 0xfe], .malformedField(field: "message_id", .invalidUTF8(offset: 2))),
            ([0x93, 0x02], .malformedField(field: "version", .unexpectedType(expected: "an integer", byte: 0x93, offset: 0))),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected) { try DXLMessageCodec.decode(bytes) }
        }
    }

    @Test("seeded random corruption never crashes and always ends in a message or a typed error")
    func randomCorruption() throws {
        var generator = SplitMix64(seed: 0x7E5_1A)
        let seeds = try ["dxlclient-detection-event.hex", "dxlclient-request.hex", "dxlclient-response.hex"].map(fixture)
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            _ = try? DXLMessageCodec.decode(bytes)
        }
    }
}


@Suite("Message ids")
struct MessageIdTests {
    @Test("generated ids look like dxlclient's: a lowercase version-4 UUID in braces, and never repeat")
    func shapeAndUniqueness() {
        var seen = Set<String>()
        for _ in 0..<100_000 {
            let id = DXLMessage.makeMessageId()
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
        let id = DXLMessage.makeMessageId()
        #expect(id.count == 38)
        #expect(id.wholeMatch(of: /\{[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}/) != nil)
    }
}
