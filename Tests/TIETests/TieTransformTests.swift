import DXL
import Foundation
import Testing
@testable import TIE

/// The spec's wire/dict pairs (shared/spec/tie-api.md §4), transformed as dxltieclient's callbacks do.
@Suite("TIE event transforms")
struct TieTransformTests {
    static let detectionWire = #"{"agentGuid":"{68125cd6-a5d8-11e6-348e-000c29663178}","detectionTime":1481301796,"hashes":[{"type":"md5","value":"614rncUYF6CG17l+tSQQqw=="},{"type":"sha1","value":"Q139Rw9ydDfHy08Hy6H5ofQnJlY="},{"type":"sha256","value":"QUuxaxDs4tsthEjLnzE/gMt3wxDKDBnuA8c8ugwW/ts="}],"localReputation":1,"name":"FOCUS_MALWARE2.EXE","remediationAction":5}"#

    @Test("a detection's hash list becomes a hex dict; nothing else changes")
    func detection() throws {
        let dict = try TieEventTransform.detection(try JSONValue.parse(Self.detectionWire))
        #expect(dict == [
            "agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}", "detectionTime": 1_481_301_796,
            "hashes": ["md5": "eb5e2b9dc51817a086d7b97eb52410ab", "sha1": "435dfd470f727437c7cb4f07cba1f9a1f4272656",
                       "sha256": "414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb"],
            "localReputation": 1, "name": "FOCUS_MALWARE2.EXE", "remediationAction": 5,
        ])
    }

    @Test("the test suite's detection without a name transforms its hashes")
    func detectionWithoutName() throws {
        let wire = #"{"agentGuid":"{abc5d2c6-e959-11e3-baeb-005056c00009}","detectionTime":1402617156,"hashes":[{"type":"md5","value":"CZnbhOFq32TBWnuAOUhLMw=="},{"type":"sha1","value":"7vZcAfgW1DgH2WrHY5A3h14Fbks="},{"type":"sha256","value":"yXfKH1ESH+5YzaiIJ6YXOtTx1y2AJihOTE9EMCqWfkA="}],"localReputation":1,"remediationAction":5}"#
        let dict = try TieEventTransform.detection(try JSONValue.parse(wire))
        #expect(dict["hashes"] == ["md5": "0999db84e16adf64c15a7b8039484b33", "sha1": "eef65c01f816d43807d96ac7639037875e056e4b",
                                   "sha256": "c977ca1f51121fee58cda88827a6173ad4f1d72d8026284e4c4f44302a967e40"])
        #expect(dict["name"] == nil)
    }

    @Test("a first instance transforms as the spec shows")
    func firstInstance() throws {
        let wire = #"{"hashes":[{"type":"sha1","value":"LWykUGG3lyMS4A5ZM/3/lbuQths="},{"type":"md5","value":"MdvozEQ9LKf9I2rAClL7Fw=="},{"type":"sha256","value":"qjxGHUwho5LjctDWykzrHk2ICY1YdllFTq9Nk8ZhiA8="}],"agentGuid":"testGuid","name":"MORPH.EXE"}"#
        #expect(try TieEventTransform.firstInstance(try JSONValue.parse(wire)) == [
            "agentGuid": "testGuid", "name": "MORPH.EXE",
            "hashes": ["sha1": "2d6ca45061b7972312e00e5933fdff95bb90b61b", "md5": "31dbe8cc443d2ca7fd236ac00a52fb17",
                       "sha256": "aa3c461d4c21a392e372d0d6ca4ceb1e4d88098d587659454eaf4d93c661880f"],
        ])
    }

    @Test("a file reputation change: reputations keyed by provider, props dropped, relationship hashes in hex")
    func fileReputationChange() throws {
        let wire = """
        {"hashes":[{"type":"md5","value":"bQvLG6j1WmwRB8LZ2gPa1w=="},{"type":"sha1","value":"OxbrjQd0H6+3meBW5YuBoInTcqM="},{"type":"sha256","value":"yXfKH1ESH+5YzaiIJ6YXOtTx1y2AJihOTE9EMCqWfkA="}],
         "oldReputations":{"reputations":[{"trustLevel":0,"providerId":3,"createDate":1409783001,"attributes":{"2098277":"256"}},
                                          {"trustLevel":99,"providerId":1,"createDate":1409783001,"attributes":{"2120340":"2139160704"}}],
                           "props":{"serverTime":1409851328}},
         "newReputations":{"reputations":[{"trustLevel":85,"providerId":3,"createDate":1409783001,"attributes":{"2098277":"256"}},
                                          {"trustLevel":99,"providerId":1,"createDate":1409783001,"attributes":{"2120340":"2139160704"}}],
                           "props":{"serverTime":1409851328}},
         "relationships":{"certificate":{"hashes":[{"value":"rB/QkipKKm5XeazdYodHwoOUsLk=","type":"sha1"}],"publicKeySha1":"Q139Rw9ydDfHy08Hy6H5ofQnJlY="}},
         "updateTime":1409851328}
        """
        let dict = try TieEventTransform.reputationChange(try JSONValue.parse(wire))
        let gti: JSONValue = ["trustLevel": 99, "providerId": 1, "createDate": 1_409_783_001, "attributes": ["2120340": "2139160704"]]
        #expect(dict == [
            "hashes": ["md5": "6d0bcb1ba8f55a6c1107c2d9da03dad7", "sha1": "3b16eb8d07741fafb799e056e58b81a089d372a3",
                       "sha256": "c977ca1f51121fee58cda88827a6173ad4f1d72d8026284e4c4f44302a967e40"],
            "oldReputations": ["1": gti, "3": ["trustLevel": 0, "providerId": 3, "createDate": 1_409_783_001, "attributes": ["2098277": "256"]]],
            "newReputations": ["1": gti, "3": ["trustLevel": 85, "providerId": 3, "createDate": 1_409_783_001, "attributes": ["2098277": "256"]]],
            "relationships": ["certificate": ["hashes": ["sha1": "ac1fd0922a4a2a6e5779acdd628747c28394b0b9"], "publicKeySha1": "435dfd470f727437c7cb4f07cba1f9a1f4272656"]],
            "updateTime": 1_409_851_328,
        ])
    }

    @Test("a certificate reputation change: top-level publicKeySha1 to hex, overridden file hashes to hex")
    func certificateReputationChange() throws {
        let wire = #"{"hashes":[{"type":"sha1","value":"tbs4I8YPTz/alN7LUkbtz7Em8K0="}],"publicKeySha1":"r1W/EdmDdcvulhvXHAj0e8GqGTc=","oldReputations":{"reputations":[{"providerId":4,"trustLevel":0,"overridden":{"files":[{"hashes":[{"type":"md5","value":"bQvLG6j1WmwRB8LZ2gPa1w=="}]}],"truncated":0}}]},"newReputations":{"reputations":[{"providerId":4,"trustLevel":85}]},"updateTime":1}"#
        let dict = try TieEventTransform.reputationChange(try JSONValue.parse(wire))
        #expect(dict["hashes"] == ["sha1": "b5bb3823c60f4f3fda94decb5246edcfb126f0ad"])
        #expect(dict["publicKeySha1"] == "af55bf11d98375cbee961bd71c08f47bc1aa1937")
        #expect(dict["oldReputations"]?["4"]?["overridden"] == ["files": [["hashes": ["md5": "6d0bcb1ba8f55a6c1107c2d9da03dad7"]]], "truncated": 0])
        #expect(dict["newReputations"]?["4"]?["trustLevel"] == 85)
    }

    @Test("malformed base64 in a hash list is an error, as in Python")
    func malformedBase64() {
        #expect(throws: HashEncodingError.self) {
            try TieEventTransform.detection(try JSONValue.parse(#"{"hashes":[{"type":"md5","value":"%%%"}]}"#))
        }
    }

    @Test("hex and base64 conversions match dxltieclient's helpers, upper-case hex included")
    func hashConversions() throws {
        #expect(try HashEncoding.base64(hex: "EB5E2B9DC51817A086D7B97EB52410AB") == "614rncUYF6CG17l+tSQQqw==")
        #expect(try HashEncoding.hex(base64: "614rncUYF6CG17l+tSQQqw==") == "eb5e2b9dc51817a086d7b97eb52410ab")
        #expect(throws: HashEncodingError.self) { try HashEncoding.base64(hex: "xyz") }
    }

    @Test("JSON values parse, compare and print as Python's json.dumps does")
    func json() throws {
        let value = try JSONValue.parse(#"{"b": [1, 2.5, true, null, "é\n"], "a": {"3": 1, "15": 2, "1": 0}}"#)
        #expect(value.serialized(style: .python) == #"{"a": {"1": 0, "3": 1, "15": 2}, "b": [1, 2.5, true, null, "\u00e9\n"]}"#)
        #expect(value.serialized(style: .indented(4)) == "{\n    \"a\": {\n        \"1\": 0,\n        \"3\": 1,\n        \"15\": 2\n    },\n    \"b\": [\n        1,\n        2.5,\n        true,\n        null,\n        \"\\u00e9\\n\"\n    ]\n}")
        #expect(try JSONValue.parse("1") != JSONValue.parse("1.0"))
        #expect(try JSONValue.parse(#"{"x":1,"y":2}"#) == JSONValue.parse(#"{"y":2,"x":1}"#))
        for bad in ["", "{", "[1,", #"{"a" 1}"#, "nul", #""\u12"#, "[1] 2", String(repeating: "[", count: 600)] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bad) }
        }
    }

    @Test("numbers parse to what the standard conversions give, integers read directly included")
    func jsonNumbers() throws {
        let texts = ["0", "-0", "7", "-12", "1481301796", "123456789012345678", "-123456789012345678", "1234567890123456789",
                     "9223372036854775807", "-9223372036854775808", "9223372036854775808", "99999999999999999999", "1e3", "1.5", "-2.5e-3"]
        for text in texts {
            let expected: JSONValue = try Int64(text).map { .int($0) } ?? .double(#require(Double(text)))
            #expect(try JSONValue.parse(text) == expected, "\(text)")
            #expect(try JSONValue.parse("[\(text)]") == .array([expected]), "\(text)")
        }
        for bad in ["-", "1-2", "--1", "1e", "+", "007"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
    }

    @Test("numbers and escapes as JSON (and Python's json) reads them: no leading zeros, no '+', no lone surrogates")
    func strictGrammar() throws {
        // JSONTestSuite's n_ cases the parser took before.
        for text in ["01", "-01", "+1", "1.", ".5", "1.e5", "1e", "1e+", "-", "00", "[012]", "{\"a\": 1.}", "2.e-3"] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(text) }
        }
        for text in [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(text) }
        }
        // What JSON allows still parses, as before.
        #expect(try JSONValue.parse("0") == .int(0))
        #expect(try JSONValue.parse("-0.5e+3") == .double(-500))
        #expect(try JSONValue.parse("10") == .int(10))
        #expect(try JSONValue.parse("1E2") == .double(100))
        #expect(try JSONValue.parse("12345678901234567890") == .double(Double("12345678901234567890")!))
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONValue.parse(#""\u00e9\u0041""#) == .string("éA"))
    }

    @Test("strings parse as Foundation reads them: ASCII runs, UTF-8, escapes in between; invalid UTF-8 is an error")
    func jsonStrings() throws {
        let texts = [#""""#, #""FOCUS_MALWARE2.EXE""#, #""é""#, #""a\nb""#, #""é\u00e9x""#, #""\"quoted\" and \\""#,
                     #""日本語 and ASCII""#, #""\ud83d\ude00 smile""#, #""tab\tend""#]
        for text in texts {
            let reference = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) as? String
            #expect(try JSONValue.parse(text) == .string(try #require(reference)), "\(text)")
        }
        for bytes: [UInt8] in [[0x22, 0xff, 0x22], [0x22, 0x61, 0xc3, 0x22], [0x22, 0x61, 0x5c, 0x6e, 0xed, 0xa0, 0x80, 0x22]] {
            #expect(throws: JSONParseError.self, "\(bytes)") { try JSONValue.parse(bytes) }
        }
    }
}

@Suite("TIE constants and helpers")
struct TieConstantsTests {
    @Test("the constants have dxltieclient's values")
    func values() {
        #expect(FileProvider.allCases.map(\.rawValue) == [1, 3, 5, 7, 15])
        #expect(CertProvider.allCases.map(\.rawValue) == [2, 4])
        #expect(TrustLevel.allCases.map(\.rawValue) == [0, 1, 15, 30, 50, 70, 85, 99, 100])
        #expect(AtdTrustLevel.allCases.map(\.rawValue) == [-2, -1, 0, 1, 2, 3, 4, 5])
        #expect(FileType.jar.rawValue == 4_328_554_496 && FileType.class.rawValue == 2_147_483_648 && FileType.peexe.rawValue == 18)
        #expect(FileType.allCases.count == 39)
        #expect(TrustLevel(name: "known-malicious") == .knownMalicious)
        #expect(TieAttribute.FileEnterprise.prevalence == "2101652" && TieAttribute.ATD.behaviors == "4197784")
        #expect(TieTopic.requestTopics.count == 6)
    }

    @Test("the server version attribute reads as 1.4.0.190, as in the spec")
    func version() {
        #expect(TieHelpers.versionTuple("73183493944770750").map { [$0.major, $0.minor, $0.patch, $0.build] } == [1, 4, 0, 190])
        #expect(TieHelpers.versionString("73183493944770750") == "1.4.0.190")
        #expect(TieHelpers.versionString("not a number") == nil)
    }

    @Test("aggregate tuples decode as the spec's worked examples")
    func aggregates() {
        #expect(TieHelpers.aggregateTuple("AgBkADIAZABMHQ==") == [2, 100, 50, 100, 75.0])
        #expect(TieHelpers.aggregateTuple("AQAAAAAAAAAAAA==") == [1, 0, 0, 0, 0])
    }

    @Test("epoch times print as local time in strftime's default format")
    func localTime() {
        #expect(TieHelpers.localTimeString(1_481_301_796, timeZone: TimeZone(identifier: "UTC")!) == "2016-12-09 16:43:16")
        #expect(TieHelpers.localTimeString(0, format: "%d/%m/%Y at %H:%M", timeZone: TimeZone(identifier: "UTC")!) == "01/01/1970 at 00:00")
        #expect(TieHelpers.localTime("1481301796")?.timeIntervalSince1970 == 1_481_301_796)
    }
}

@Suite("Base64")
struct Base64Tests {
    @Test("the fast decoder agrees with Foundation on every length and rejects malformed base64")
    func agreesWithFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Data(bytes).base64EncodedString()
            #expect(HashEncoding.decodeBase64(text) == bytes)
        }
        for bad in ["%%%=", "abc", "ab=c", "a===", "QUJD=", "QQ==QQ==", "QQ=A"] {
            #expect(HashEncoding.decodeBase64(bad) == nil, "\(bad)")
        }
    }
}
