// tiesim-bench player: the scenario player against raw libmosquitto publishing.
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

// MARK: Player

func benchPlayer() async throws {
    let events = option("--events", 1_000_000)
    let yaml = { (count: Int) in
        """
        settings: {waitForSubscribers: false}
        files:
          FOCUS_MALWARE2.EXE:
            md5: eb5e2b9dc51817a086d7b97eb52410ab
            sha1: 435dfd470f727437c7cb4f07cba1f9a1f4272656
            sha256: 414bb16b10ece2db2d8448cb9f313f80cb77c310ca0c19ee03c73cba0c16fedb
        timeline:
          - detection:
              file: FOCUS_MALWARE2.EXE
              localReputation: KNOWN_MALICIOUS
              remediationAction: 5
            repeat: \(count)
            agents: 1000
        """
    }
    var options = SimulatedFabric.Options(stateDirectory: workFolder + "/player")
    options.scenarios = []
    let fabric = try await SimulatedFabric.start(options)
    defer { Task { await fabric.stop() } }
    let small = try ScenarioLoader.parse(text: yaml(10_000), file: "bench-10k.yaml")
    let large = try ScenarioLoader.parse(text: yaml(events), file: "bench-1m.yaml")
    let sample = try require(fabric.player().payload(for: large.timeline[0], index: 0, scenario: large))
    // The baseline publishes exactly what the player does: the same payload, stamped with the player
    // client's id and tiesim's broker GUID as every message from the fabric is.
    var sampleMessage = DXLMessage.event(topic: TieTopic.fileDetection, payload: Array(sample.serialized(style: JSONValue.Style.python).utf8))
    sampleMessage.sourceClientId = fabric.playerClient.clientId
    sampleMessage.sourceBrokerId = fabric.brokerGuid
    let sampleBytes = DXLMessageCodec.encode(sampleMessage)
    print("player: detection event of \(sampleBytes.count) bytes on the wire")

    // Warm up, and measure peak RSS after a 10 k-event timeline.
    _ = try await fabric.play([small])
    let rss10k = peakRSSMegabytes()
    // Alternate raw libmosquitto (the same bytes, the same flow-control window) and the player; medians.
    let rounds = option("--rounds", 3)
    var rawRates: [Double] = []
    var playerRates: [Double] = []
    // The fabric journals every event through its own subscription; each side starts once the broker has
    // delivered the other side's events to it, so that neither pays for the other's backlog.
    func settle() async {
        var last = -1
        while fabric.journal.recordedCount != last {
            last = fabric.journal.recordedCount
            try? await Task.sleep(for: .milliseconds(300))
        }
    }
    // The sides take turns going first, so that neither always inherits the machine's state from the other.
    for round in 1...rounds {
        for side in round % 2 == 1 ? ["raw", "player"] : ["player", "raw"] {
            await settle()
            if side == "raw" {
                let raw = RawPublisher(certificates: fabric.certificates, port: fabric.broker.port)
                rawRates.append(raw.publish(bytes: sampleBytes, topic: TieTopic.fileDetection, count: events))
                raw.close()
            } else {
                let start = clock.now
                let results = try await fabric.play([large])
                playerRates.append(Double(results[0].sent) / seconds(clock.now - start))
            }
        }
        print("player: round \(round): raw libmosquitto \(format(rawRates.last!)) ev/s, player \(format(playerRates.last!)) ev/s = \(format(100 * playerRates.last! / rawRates.last!, digits: 1)) %")
    }
    let rss1m = peakRSSMegabytes()
    let rawRate = median(rawRates)
    let playerRate = median(playerRates)
    let ratios = zip(playerRates, rawRates).map { 100 * $0 / $1 }
    print("player: median of \(rounds): raw libmosquitto publish \(format(rawRate)) ev/s; player \(format(playerRate)) ev/s for \(events) events = \(format(100 * playerRate / rawRate, digits: 1)) % of raw; median of the rounds' ratios \(format(median(ratios), digits: 1)) % (goal ≥ 90 %)")
    print("player: peak RSS after a 10 k-event timeline \(format(rss10k, digits: 1)) MB, after \(rounds) \(events / 1000) k-event timelines \(format(rss1m, digits: 1)) MB")
    await fabric.stop()
}
