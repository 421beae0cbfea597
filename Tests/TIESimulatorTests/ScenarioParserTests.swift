import DXLBroker
import Foundation
import TIE
import Testing
@testable import TIESimulator

/// Parses `text` as if read from `bad.yaml` and returns the issues' printed lines.
func problems(_ text: String) -> [String] {
    do {
        _ = try ScenarioLoader.parse(text: text, file: "bad.yaml")
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("Scenario files")
struct ScenarioParserTests {
    @Test("numbers out of range are pointed at, not crashed on: durations, rates, windows, delays, timeouts, outages")
    func numericExtremes() {
        let base = "files:\n  A.EXE:\n    md5: 0123456789abcdef0123456789abcdef\n"
        let cases: [(String, String)] = [
            ("timeline:\n  - detection: {file: A.EXE}\n    after: 1e20s\n", "bad.yaml:6:12: after '1e20s' is longer than 30 days"),
            ("timeline:\n  - detection: {file: A.EXE}\n    repeat: 2\n    rate: 1e-10/s\n", "bad.yaml:7:11: rate '1e-10/s' is out of range"),
            ("timeline:\n  - detection: {file: A.EXE}\n    repeat: 2\n    rate: 1e300/s\n", "bad.yaml:7:11: rate '1e300/s' is out of range"),
            ("expect:\n  - request: get_file_reputation\n    within: 1e19s\n", "bad.yaml:6:13: within '1e19s' is longer than 30 days"),
            ("faults:\n  - request: get_file_reputation\n    delay: 1e19s\n", "bad.yaml:6:12: delay '1e19s' is longer than 30 days"),
            ("settings: {subscriberTimeout: 1e20s}\n", "bad.yaml:4:31: subscriberTimeout '1e20s' is longer than 30 days"),
            ("timeline:\n  - brokerOutage: 1e20s\n", "bad.yaml:5:19: brokerOutage '1e20s' is longer than 30 days"),
            ("timeline:\n  - detection: {file: A.EXE}\n    at: 9e15h\n", "bad.yaml:6:9: at '9e15h' is longer than 30 days"),
        ]
        for (text, expected) in cases {
            let found = problems(base + text)
            #expect(found.count == 1 && found[0].hasPrefix(expected), "\(found)")
        }
        #expect(problems(base + "timeline:\n  - detection: {file: A.EXE}\n    after: 720h\n").isEmpty)
    }

    @Test("authorization: says who may send and who receives on which topics; a non-topic is pointed at")
    func authorizationSection() throws {
        let scenario = try ScenarioLoader.parse(text: """
        authorization:
          send:
            /mcafee/service/tie/file/reputation/set: [admin]
          receive:
            /acme/#: [reader, auditor]
        files:
          A.EXE:
        """, file: "auth.yaml")
        let rules = try #require(scenario.authorization)
        #expect(rules.send.map(\.topic) == ["/mcafee/service/tie/file/reputation/set"])
        #expect(rules.send.first?.clients == ["admin"])
        #expect(rules.maySend("admin", on: "/mcafee/service/tie/file/reputation/set"))
        #expect(!rules.maySend("client", on: "/mcafee/service/tie/file/reputation/set"))
        #expect(!rules.mayReceive("client", on: "/acme/x"))
        #expect(rules.mayReceive("auditor", on: "/acme/x"))
        #expect(problems("authorization:\n  send:\n    acme: [a]\nfiles:\n  A.EXE:\n") == [
            "bad.yaml:3:5: 'acme' is not a topic — write the DXL topic, starting with / (a trailing # covers the topics below it)",
        ])
        #expect(problems("authorization:\n  sned: {}\nfiles:\n  A.EXE:\n").first?.hasPrefix("bad.yaml:2:3:") == true)
        // The brokers get the scenarios' rules with tiesim up's own.
        var options = SimulatedFabric.Options(stateDirectory: "/tmp/unused")
        options.scenarios = [scenario]
        options.authorization = TopicAuthorization(send: [.init(topic: "/x", clients: ["x"])])
        options.authorizedSetters = ["setter"]
        let merged = SimulatedFabric.authorization(options)
        #expect(merged.send.map(\.topic) == ["/x", "/mcafee/service/tie/file/reputation/set", "/tiesim/control/#", TieTopic.setFileReputation, TieTopic.setCertificateReputation, TieTopic.externalFileReport])
        #expect(merged.maySend("client", on: "/tiesim/control/reset"))  // the first of the clients controls the fabric
        #expect(!merged.maySend("other", on: "/tiesim/control/reset"))
        #expect(merged.receive.map(\.topic) == ["/acme/#"])
        // tiesim's own clients pass every rule the fabric enforces, whoever wrote it (the options' too).
        #expect((merged.send + merged.receive).allSatisfy { $0.clients.contains("tiesim") })
        #expect(merged.maySend("tiesim", on: "/x"))
    }

    @Test("an event step with an empty or relative topic is an error at its line, not dropped")
    func eventTopic() {
        #expect(problems("timeline:\n  - event: {topic: \"\"}\n") == ["bad.yaml:2:20: '' is not a topic to send an event on — write the DXL topic, starting with /, e.g. topic: /acme/events"])
        #expect(problems("timeline:\n  - event: {topic: acme/x}\n").first?.hasPrefix("bad.yaml:2:20: 'acme/x' is not a topic") == true)
        #expect(problems("timeline:\n  - event: {payload: {a: 1}}\n").first?.contains("an event needs a topic") == true)
        #expect(problems("timeline:\n  - event: {topic: /acme/x}\n").isEmpty)
    }

    @Test("the seed scenario parses into the seed's file and detection")
    func seedScenario() throws {
        let scenario = try ScenarioLoader.load(path: repositoryRoot.appendingPathComponent("scenarios/basic-detection.yaml").path)
        #expect(scenario.name == "basic-detection")
        let file = try #require(scenario.file(named: "FOCUS_MALWARE2.EXE"))
        #expect(file.md5 == "eb5e2b9dc51817a086d7b97eb52410ab")
        #expect(file.sha1 == "435dfd470f727437c7cb4f07cba1f9a1f4272656")
        #expect(file.sha256 == "414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb")
        #expect(file.reputations.map(\.providerId) == [1, 3])
        #expect(file.reputations.first?.trustLevel == 1)
        #expect(scenario.timeline.count == 1)
        guard case .detection(let detection) = scenario.timeline[0].action else {
            Issue.record("the step is not a detection")
            return
        }
        #expect(detection.agentGuid == "{68125cd6-a5d8-11e6-348e-000c29663178}")
        #expect(detection.detectionTime == 1_481_301_796)
        #expect(detection.localReputation == 1)
        #expect(detection.remediationAction == 5)
        #expect(scenario.timeline[0].waitForSubscriber == TieTopic.fileDetection)
    }

    @Test("every scenario shipped in scenarios/ is valid")
    func shippedScenariosAreValid() throws {
        let folder = repositoryRoot.appendingPathComponent("scenarios").path
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
        #expect(names.count >= 5)
        for name in names {
            #expect(throws: Never.self) { try ScenarioLoader.load(path: folder + "/" + name) }
        }
    }

    @Test("an unknown key is reported with its position and a did-you-mean")
    func unknownKey() {
        #expect(problems("fils:\n  A.EXE:\n") == ["bad.yaml:1:1: unknown key 'fils' in the scenario — did you mean 'files'?", "bad.yaml:1:1: the scenario defines nothing — add at least one of files:, certificates:, timeline:, expect:, faults: or settings: (see scenarios/README.md)"])
        #expect(problems("files:\n  A.EXE:\n    sha265: 00\n") == ["bad.yaml:3:5: unknown key 'sha265' in file A.EXE — did you mean 'sha256'?"])
    }

    @Test("a step naming an unknown file says so and suggests the closest name")
    func unknownFile() {
        let text = """
        files:
          FOCUS_MALWARE2.EXE:
        timeline:
          - detection:
              file: FOCUS_MALWARE.EXE
        """
        #expect(problems(text) == ["bad.yaml:5:13: unknown file 'FOCUS_MALWARE.EXE' — did you mean 'FOCUS_MALWARE2.EXE'? (or define it under files:)"])
        #expect(problems("timeline:\n  - detection:\n      file: NOPE.EXE\n") == ["bad.yaml:3:13: unknown file 'NOPE.EXE' — define it under files:"])
    }

    @Test("hashes of the wrong length or not hex are refused")
    func badHashes() {
        #expect(problems("files:\n  A.EXE:\n    md5: abc123\n") == ["bad.yaml:3:10: md5 has 6 hex digits; a md5 has 32 — check that the whole digest was copied"])
        #expect(problems("files:\n  A.EXE:\n    sha1: zz5dfd470f727437c7cb4f07cba1f9a1f4272656\n") == ["bad.yaml:3:11: sha1 'zz5dfd470f727437c7cb4f07cba1f9a1f4272656' is not hexadecimal — write the digest as 40 hex digits (0-9, a-f)"])
    }

    @Test("unknown trust levels and providers are refused with the allowed values")
    func badTrustLevelAndProvider() {
        #expect(problems("files:\n  A.EXE:\n    reputations:\n      GTI: KNOWN_MALICOUS\n") == ["bad.yaml:4:12: unknown trust level 'KNOWN_MALICOUS' — did you mean 'KNOWN_MALICIOUS'?"])
        #expect(problems("files:\n  A.EXE:\n    reputations:\n      GTI: 42\n") == ["bad.yaml:4:12: 42 is not a TIE trust level — use one of 0, 1, 15, 30, 50, 70, 85, 99, 100 or a name such as KNOWN_MALICIOUS"])
        #expect(problems("files:\n  A.EXE:\n    reputations:\n      GTII: 99\n") == ["bad.yaml:4:7: unknown file reputation provider 'GTII' — did you mean 'GTI'?"])
        #expect(problems("files:\n  A.EXE:\n    reputations:\n      9: 99\n") == ["bad.yaml:4:7: 9 is not a file reputation provider — use one of 1 (GTI), 3 (ENTERPRISE), 5 (ATD), 7 (MWG), 15 (EXTERNAL)"])
        #expect(problems("certificates:\n  C:\n    reputations:\n      ATD: 99\n") == ["bad.yaml:4:7: unknown certificate reputation provider 'ATD' — a provider is one of: GTI, ENTERPRISE"])
    }

    @Test("bad durations and rates are refused")
    func badDurations() {
        let text = "files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    after: soon\n  - detection: {file: A.EXE}\n    rate: fast\n"
        #expect(problems(text) == [
            "bad.yaml:5:12: after 'soon' is not a duration — write a number with a unit: 500ms, 2s, 1.5m or 1h",
            "bad.yaml:7:11: rate 'fast' is not a rate — write events per time unit: 100/s, 30/m",
        ])
    }

    @Test("values of the wrong type are refused")
    func wrongTypes() {
        #expect(problems("files: [A.EXE]\n") == ["bad.yaml:1:8: files must be a mapping of key: value lines, not a list — indent its keys under it"])
        #expect(problems("files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    repeat: many\n") == ["bad.yaml:5:13: repeat must be a whole number, not 'many' — write digits only, e.g. 5"])
        #expect(problems("timeline:\n  detection: {}\n") == ["bad.yaml:2:3: timeline must be a list (lines starting with '- '), not a mapping — write each entry on its own line starting with '- '"])
    }

    @Test("all mistakes of a file are reported at once, in order")
    func allErrorsAtOnce() {
        let text = """
        files:
          A.EXE:
            md5: 123
            reputations:
              GTI: MAYBE
        timeline:
          - detection:
              file: B.EXE
          - firstInstance:
              file: A.EXE
            after: later
        """
        let found = problems(text)
        #expect(found.count == 4)
        #expect(found.map { $0.split(separator: ":").prefix(3).joined(separator: ":") } == ["bad.yaml:3:10", "bad.yaml:5:12", "bad.yaml:8:13", "bad.yaml:11:12"])
    }

    @Test("invalid YAML is reported at its line")
    func invalidYAML() {
        let found = problems("files:\n  A.EXE:\n    md5: [unclosed\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("bad.yaml:4:1: not valid YAML") == true || found.first?.hasPrefix("bad.yaml:3:") == true)
    }

    @Test("hashes and agents left out are generated from the seed, the same every run")
    func generatedFromSeed() throws {
        let text = "settings:\n  seed: s1\nfiles:\n  A.EXE:\n"
        let first = try ScenarioLoader.parse(text: text, file: "a.yaml")
        let second = try ScenarioLoader.parse(text: text, file: "a.yaml")
        #expect(first.files[0].md5 == second.files[0].md5)
        #expect(first.files[0].md5.count == 32 && first.files[0].sha1.count == 40 && first.files[0].sha256.count == 64)
        let other = try ScenarioLoader.parse(text: "settings:\n  seed: s2\nfiles:\n  A.EXE:\n", file: "a.yaml")
        #expect(other.files[0].md5 != first.files[0].md5)
        #expect(Generated.agentGuid(seed: "s1", index: 3) == Generated.agentGuid(seed: "s1", index: 3))
        #expect(Generated.agentGuid(seed: "s1", index: 3).wholeMatch(of: /\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}/) != nil)
    }

    @Test("timing modifiers: at, after, repeat with rate or interval, agents, waitForSubscriber")
    func timing() throws {
        let text = """
        settings:
          waitForSubscribers: false
        files:
          A.EXE:
        timeline:
          - detection: {file: A.EXE}
            at: 2s
            repeat: 500
            rate: 100/s
            agents: 50
          - firstInstance: {file: A.EXE}
            after: 500ms
            interval: 1.5s
            waitForSubscriber: true
          - event:
              topic: /my/topic
              payload: {a: 1, b: [true, "x", 2.5]}
            waitForSubscriber: /my/#
        """
        let scenario = try ScenarioLoader.parse(text: text, file: "t.yaml")
        #expect(scenario.timeline[0].at == .seconds(2))
        #expect(scenario.timeline[0].count == 500)
        #expect(scenario.timeline[0].interval == .milliseconds(10))
        #expect(scenario.timeline[0].agents == 50)
        #expect(scenario.timeline[0].waitForSubscriber == nil)
        #expect(scenario.timeline[1].after == .milliseconds(500))
        #expect(scenario.timeline[1].interval == .milliseconds(1500))
        #expect(scenario.timeline[1].waitForSubscriber == TieTopic.fileFirstInstance)
        guard case .event(let topic, let payload) = scenario.timeline[2].action else {
            Issue.record("not an event")
            return
        }
        #expect(topic == "/my/topic")
        #expect(payload == ["a": 1, "b": [true, "x", 2.5]])
        #expect(scenario.timeline[2].waitForSubscriber == "/my/#")
    }

    @Test("YAML aliases that expand exponentially are refused quickly")
    func aliasBomb() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            text += "a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
        }
        text += "timeline:\n  - event:\n      topic: /x\n      payload: *a9\n"
        let clock = ContinuousClock()
        let start = clock.now
        let found = problems(text)
        #expect(clock.now - start < .seconds(10))
        #expect(found.contains { $0.contains("expands to more than") })
    }

    @Test("very deep nesting is refused")
    func deepNesting() {
        let text = "timeline:\n  - event:\n      topic: /x\n      payload: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n"
        let found = problems(text)
        #expect(found.contains { $0.contains("nesting deeper than") })
    }

    @Test("binary data and non-UTF-8 text are refused with their position")
    func binaryAndEncoding() throws {
        #expect(throws: ScenarioError.self) { try ScenarioLoader.parse(data: Data("files:\n  A\u{0}.EXE:\n".utf8), file: "b.yaml") }
        do {
            _ = try ScenarioLoader.parse(data: Data([0x66, 0x69, 0x6c, 0x65, 0x73, 0x3a, 0x0a, 0x20, 0x20, 0xff, 0xfe]), file: "b.yaml")
            Issue.record("accepted non-UTF-8")
        } catch {
            #expect(error.description == "b.yaml:2:3: the file is not UTF-8 text — save it as UTF-8")
        }
        do {
            _ = try ScenarioLoader.parse(data: Data("files:\n  A\u{0}.EXE:\n".utf8), file: "b.yaml")
        } catch {
            #expect(error.description == "b.yaml:2:4: binary data (a NUL byte) in a scenario file — scenario files are UTF-8 YAML text")
        }
    }

    @Test("a missing file is reported as such")
    func missingFile() {
        #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: "/nonexistent/x.yaml") }
    }
}

@Suite("fabric: and broker: in scenario files")
struct FabricLayoutParsingTests {
    @Test("fabric: gives the broker count and topology; steps name their broker")
    func fabricSection() throws {
        let scenario = try ScenarioLoader.parse(text: """
        fabric: {brokers: 3, topology: chain}
        files:
          A.EXE:
        timeline:
          - detection: {file: A.EXE}
            broker: 3
          - brokerOutage: 2s
            broker: 2
          - detection: {file: A.EXE}
        """, file: "ok.yaml")
        #expect(scenario.fabric == FabricLayout(brokers: 3, topology: .chain, line: 1))
        #expect(scenario.timeline.map(\.broker) == [3, 2, 1])
    }

    @Test("mistakes in fabric: and broker: point at the line")
    func fabricMistakes() {
        #expect(problems("fabric: {brokers: 3, topology: star}\nfiles:\n  A.EXE:\n") == ["bad.yaml:1:32: topology 'star' is not a topology — topology is one of: hub, chain"])
        #expect(problems("fabric: {brokers: 40}\nfiles:\n  A.EXE:\n") == ["bad.yaml:1:19: brokers must be between 1 and 16, not 40 — use a value in that range"])
        #expect(problems("fabric: {brokrs: 2}\nfiles:\n  A.EXE:\n") == ["bad.yaml:1:10: unknown key 'brokrs' in fabric — did you mean 'brokers'?"])
        #expect(problems("files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    broker: 2\n")
                == ["bad.yaml:5:13: broker 2 does not exist: this scenario's fabric has 1 broker — add fabric: {brokers: 2} at the top, or name a broker from 1 to 1"])
    }
}
