import Foundation
import Testing
@testable import DXLFabric

/// The pure parts of the WebSocket listener and the management service, without sockets.
@Suite("WebSocket framing, CONNECT rewriting, HTTP heads")
struct WebSocketListenerPartsTests {
    /// A masked client frame.
    func frame(opcode: UInt8, _ payload: [UInt8], final: Bool = true, mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]) -> [UInt8] {
        var bytes: [UInt8] = [(final ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            bytes.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65_536 {
            bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            bytes.append(0x80 | 127)
            bytes += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        return bytes + mask + payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    }

    func decode(_ chunks: [[UInt8]]) -> [WebSocketDecoder.Output] {
        var decoder = WebSocketDecoder()
        return chunks.flatMap { chunk in chunk.withUnsafeBytes { decoder.feed($0) } }
    }

    /// Joins adjacent data outputs, as the relay's byte stream sees them.
    func joined(_ outputs: [WebSocketDecoder.Output]) -> [WebSocketDecoder.Output] {
        var result: [WebSocketDecoder.Output] = []
        for output in outputs {
            if case .data(let bytes) = output, case .data(let previous)? = result.last {
                result[result.count - 1] = .data(previous + bytes)
            } else {
                result.append(output)
            }
        }
        return result
    }

    @Test("binary frames of every length class are unmasked, fed whole or one byte at a time")
    func lengths() {
        for count in [0, 1, 125, 126, 65_535, 65_536, 200_000] {
            let payload = (0..<count).map { UInt8($0 % 251) }
            let bytes = frame(opcode: 2, payload) + frame(opcode: 9, [1, 2, 3])
            let expected: [WebSocketDecoder.Output] = (count == 0 ? [] : [.data(payload)]) + [.ping([1, 2, 3])]
            #expect(joined(decode([bytes])) == expected, "length \(count)")
            if count <= 126 {
                #expect(joined(decode(bytes.map { [$0] })) == expected, "length \(count), byte by byte")
            }
        }
    }

    @Test("continuation frames continue the stream; close ends it")
    func fragments() {
        let outputs = joined(decode([frame(opcode: 2, [1, 2], final: false) + frame(opcode: 0, [3]) + frame(opcode: 8, [0x03, 0xe8])]))
        #expect(outputs == [.data([1, 2, 3]), .close])
    }

    @Test("protocol violations fail the connection, and nothing after them is decoded")
    func violations() {
        let unmasked: [UInt8] = [0x82, 0x01, 0x00]
        let cases: [([UInt8], String)] = [
            (unmasked, "unmasked"),
            (frame(opcode: 1, Array("text".utf8)), "text frame"),
            (frame(opcode: 3, []), "unknown opcode"),
            (frame(opcode: 9, [UInt8](repeating: 0, count: 126)), "long control frame"),
            ([0xc2, 0x80, 0, 0, 0, 0], "reserved bits"),
        ]
        for (bytes, what) in cases {
            let outputs = decode([bytes + frame(opcode: 2, [9])])
            guard case .failure? = outputs.last else {
                Issue.record("\(what): \(outputs)")
                continue
            }
            #expect(outputs.count == 1, "\(what): \(outputs)")
        }
    }

    @Test("server frames are unmasked with the right length encoding")
    func serverFrames() {
        #expect(WebSocketFrame.header(opcode: 2, length: 5) == [0x82, 5])
        #expect(WebSocketFrame.header(opcode: 2, length: 300) == [0x82, 126, 1, 44])
        #expect(WebSocketFrame.header(opcode: 2, length: 70_000) == [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70])
        #expect(WebSocketFrame.close(code: 1000) == [0x88, 2, 0x03, 0xe8])
        #expect(WebSocketFrame.pong([7]) == [0x8a, 1, 7])
    }

    /// An MQTT 3.1.1 CONNECT with `flags` and the fields after the client id.
    func connect(clientId: String, flags: UInt8, rest: [[UInt8]] = []) -> [UInt8] {
        func field(_ bytes: [UInt8]) -> [UInt8] { [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes }
        let body = field(Array("MQTT".utf8)) + [4, flags, 0x07, 0x08] + field(Array(clientId.utf8)) + rest.flatMap(field)
        return [0x10, UInt8(body.count)] + body
    }

    @Test("CONNECT gets the certificate's identity and the secret, whatever credentials it carried; later bytes pass")
    func rewrite() throws {
        let expected = connect(clientId: "{abc}", flags: 0xc2, rest: [Array("client".utf8), Array("s3cret".utf8)])
        for original in [connect(clientId: "{abc}", flags: 0x02), connect(clientId: "{abc}", flags: 0xc2, rest: [Array("admin".utf8), Array("guess".utf8)])] {
            var rewriter = MQTTConnectRewriter()
            let subscribe: [UInt8] = [0x82, 0x05, 0, 1, 0, 0, 0]
            // Split inside the length and inside the body: nothing goes out until CONNECT is whole.
            #expect(try rewriter.feed([original[0]], identity: "client", secret: "s3cret").isEmpty)
            #expect(try rewriter.feed(Array(original[1..<9]), identity: "client", secret: "s3cret").isEmpty)
            let out = try rewriter.feed(Array(original[9...]) + subscribe, identity: "client", secret: "s3cret")
            #expect(out == expected + subscribe)
            #expect(try rewriter.feed([0xc0, 0x00], identity: "client", secret: "s3cret") == [0xc0, 0x00])
        }
        // A will survives the rewrite.
        var rewriter = MQTTConnectRewriter()
        let will = connect(clientId: "w", flags: 0x06, rest: [Array("/will".utf8), Array("gone".utf8)])
        #expect(try rewriter.feed(will, identity: "c", secret: "s") == connect(clientId: "w", flags: 0xc6, rest: [Array("/will".utf8), Array("gone".utf8), Array("c".utf8), Array("s".utf8)]))
    }

    @Test("a first packet that is not a well-formed CONNECT is refused")
    func refusals() {
        let bad: [[UInt8]] = [
            [0x30, 0x00],  // PUBLISH first
            [0x10, 0xff, 0xff, 0xff, 0xff, 0x01],  // length over four bytes
            [0x10, 0xff, 0xff, 0x7f],  // two megabytes of CONNECT
        ]
        for bytes in bad {
            var rewriter = MQTTConnectRewriter()
            #expect(throws: MQTTConnectRewriter.Refusal.self) { try rewriter.feed(bytes, identity: "c", secret: "s") }
        }
        // A CONNECT whose flags promise a user name it lacks.
        var rewriter = MQTTConnectRewriter()
        #expect(throws: MQTTConnectRewriter.Refusal.self) { try rewriter.feed(connect(clientId: "x", flags: 0x82), identity: "c", secret: "s") }
        var mqtt6 = MQTTConnectRewriter()
        var unknown = connect(clientId: "x", flags: 0x02)
        unknown[8] = 6  // protocol level 6
        #expect(throws: MQTTConnectRewriter.Refusal.self) { try mqtt6.feed(unknown, identity: "c", secret: "s") }
    }

    @Test("MQTT variable lengths: each byte-count boundary both ways; too few bytes wait, a fifth byte is refused")
    func variableLengths() {
        for (value, bytes) in [(0, [0x00]), (127, [0x7f]), (128, [0x80, 0x01]), (16_383, [0xff, 0x7f]), (16_384, [0x80, 0x80, 0x01]),
                               (268_435_455, [0xff, 0xff, 0xff, 0x7f])] as [(Int, [UInt8])] {
            #expect(MQTTVariableLength.encoded(value) == bytes)
            #expect(MQTTVariableLength.decode(bytes + [0x42]) == .value(value, byteCount: bytes.count))
            #expect(MQTTVariableLength.decode(bytes.dropLast()) == .incomplete)
        }
        #expect(MQTTVariableLength.decode([0x80, 0x80, 0x80, 0x80, 0x01]) == .malformed)
    }

    @Test("an HTTP head: method, target, query decoding, headers by lower-cased name")
    func head() throws {
        let head = try #require(HTTPRequestHead("GET /remote/Cmd?csrString=a%2Bb+c%0A&:output=json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\nX-A: 1\r\nx-a: 2"))
        #expect(head.method == "GET" && head.path == "/remote/Cmd")
        #expect(head.queryValue("csrString") == "a+b c\n")
        #expect(head.queryValue(":output") == "json")
        #expect(head.headers["authorization"] == "Basic YTpi")
        #expect(head.headers["x-a"] == "1, 2")
        #expect(HTTPRequestHead("not http") == nil)
        #expect(HTTPRequestHead("GET / HTTP/1.1\r\nno colon here") == nil)
    }

    @Test("the management service's answers: credentials, methods, commands, and errors as the CLI reads them")
    func managementAnswers() throws {
        let authority = try CertificateAuthority.generate()
        let brokers: ManagementService.BrokerList = {
            ([.init(uniqueId: "b1", host: "localhost", port: 8883, ipAddress: "127.0.0.1")], [.init(uniqueId: "b1", host: "localhost", port: 8443, ipAddress: "127.0.0.1")])
        }
        let good = "Basic " + Data("admin:pw".utf8).base64EncodedString()
        func answer(_ request: String, authorization: String? = good) -> String {
            let head = HTTPRequestHead(request + (authorization.map { "\r\nAuthorization: \($0)" } ?? ""))!
            let bytes = ManagementService.answer(head, expectedAuthorization: good, authority: authority, caBundle: "CA PEM\n", reserved: ["tiesim"],
                                                 brokers: brokers, logger: .init(label: "test"))
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(answer("GET /remote/DxlClientMgmt.createClientCaBundle?:output=json HTTP/1.1", authorization: nil).hasPrefix("HTTP/1.1 401 "))
        #expect(answer("GET /remote/DxlClientMgmt.createClientCaBundle HTTP/1.1", authorization: "Basic " + Data("admin:no".utf8).base64EncodedString()).hasPrefix("HTTP/1.1 401 "))
        #expect(answer("POST /remote/DxlClientMgmt.createClientCaBundle HTTP/1.1").hasPrefix("HTTP/1.1 405 "))
        #expect(answer("GET /remote/Nope HTTP/1.1").hasPrefix("HTTP/1.1 404 "))
        #expect(answer("GET /remote/DxlClientMgmt.createClientCaBundle?:output=json HTTP/1.1").hasSuffix("\r\n\r\nOK:\r\n\"CA PEM\\n\"\r\n"))
        let list = answer("GET /remote/DxlClientMgmt.getBrokerList?:output=json HTTP/1.1")
        #expect(list.contains(#"OK:\#r\#n"{\"brokers\":[{\"guid\":\"b1\",\"hostName\":\"localhost\",\"ipAddress\":\"127.0.0.1\",\"port\":8883}]"#), "\(list)")
        #expect(list.contains(#"\"webSocketBrokers\":[{\"guid\":\"b1\",\"hostName\":\"localhost\",\"ipAddress\":\"127.0.0.1\",\"port\":8443}]"#), "\(list)")
        let missing = answer("GET /remote/DxlBrokerMgmt.generateOpenDXLClientProvisioningPackageCmd?:output=json HTTP/1.1")
        #expect(missing.contains("\r\n\r\nERROR 400:\r\ncsrString is missing"))
        let garbage = answer("GET /remote/DxlBrokerMgmt.generateOpenDXLClientProvisioningPackageCmd?csrString=hello HTTP/1.1")
        #expect(garbage.contains("ERROR 400:\r\ncannot sign the certificate request: not a PEM certificate signing request"))
    }
}
