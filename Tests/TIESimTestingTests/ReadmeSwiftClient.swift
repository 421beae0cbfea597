// README example: this file is quoted in README.md ("From Swift"), and a test checks and runs it.
import DXL
import TIE

/// Connects with tiesim's dxlclient.config, prints every detection, and looks the seed file up.
func watchDetections(config: String = ".tiesim/dxlclient.config") async throws -> TieClient {
    let client = try DXLClient(config: DXLClientConfig(contentsOf: config))
    try await client.connect()
    let tie = TieClient(client)
    try await tie.addFileDetectionCallback { detection in
        print(detection.name ?? "", detection.hashes, detection.dictionary)   // dictionary: what Python gets
    }
    let reputations = try await tie.getFileReputation(hashes: [.md5: "eb5e2b9dc51817a086d7b97eb52410ab"])
    print(reputations[FileProvider.gti]?.trustLevel ?? 0)
    return tie
}
