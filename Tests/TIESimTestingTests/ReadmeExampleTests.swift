// README example: this file is quoted in README.md, and a test checks that the two stay the same.
import TIE
import TIESimTesting
import Testing

@Test("the seed detection reaches my TieClient callback")
func seedDetectionReachesMyCallback() async throws {
    try await withTIEFabric(scenario: "basic-detection.yaml") { fabric in
        let tie = try await fabric.tieClient()
        let detections = try await tie.detectionInbox()
        fabric.startPlaying()  // the step waits until our client has subscribed

        let detection = try await detections.next(timeout: .seconds(10))
        #expect(detection.name == "FOCUS_MALWARE2.EXE")
        #expect(detection.hashes["md5"] == "eb5e2b9dc51817a086d7b97eb52410ab")
        #expect(detection.dictionary == fabric.expectedDictionary(step: 0))

        let reputations = try await tie.getFileReputation(hashes: [.md5: "eb5e2b9dc51817a086d7b97eb52410ab"])
        #expect(reputations[FileProvider.gti]?.trustLevel == TrustLevel.knownMalicious.rawValue)
    }
}

