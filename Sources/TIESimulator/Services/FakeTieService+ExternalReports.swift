import DXL
import Foundation
import Logging
import Synchronization
import TIE

// External reports (`/mcafee/event/external/file/report`): reputations from outside TIE.
extension FakeTieService {
    func handleExternalReport(_ event: DXLMessage) {
        do {
            let body = try parseBody(event)
            guard let file = body["file"], case .object = file else { throw BadRequest(message: "missing 'file' object") }
            guard case .object(let hashMap)? = file["hashes"], !hashMap.isEmpty else { throw BadRequest(message: "'file.hashes' must be a non-empty {type: hex} object") }
            var hashes: [(type: String, hex: String)] = []
            for (typeName, value) in hashMap.sorted(by: { $0.key < $1.key }) {
                guard let type = HashType(rawValue: typeName.lowercased()) else { throw BadRequest(message: "unsupported hash type '\(typeName)'") }
                guard let hex = value.stringValue, let bytes = try? HashEncoding.bytes(hex: hex), bytes.count == type.byteCount else {
                    throw BadRequest(message: "the \(typeName) hash is not \(type.byteCount * 2) hex digits")
                }
                hashes.append((type.rawValue, HashEncoding.hex(bytes)))
            }
            guard let score = file["reputation"]?["score"]?.intValue else { throw BadRequest(message: "missing integer 'file.reputation.score'") }
            guard score != 0 else { throw BadRequest(message: "trust level 0 (NOT_SET) is refused") }
            guard TrustLevel(rawValue: Int(score)) != nil else { throw BadRequest(message: "unknown trust level \(score)") }
            let filename = file["attributes"]?["filename"]?.stringValue
            // A file TIE did not know gets the records the real server had answered for it, as with a set.
            let change = try store.setFileReputation(hashes: hashes, providerId: FileProvider.external.rawValue, trustLevel: Int(score),
                                                     filename: filename?.isEmpty == false ? filename : nil, now: Self.now,
                                                     initial: initialReputations(Self.unknownFileReputations))
            observer?(event, nil)
            broadcastFileChange(change)
        } catch let error as BadRequest {
            logger.notice("ignored external report \(event.messageId): \(error.message)")
            observer?(event, error.message)
            journal?.record(event, kind: .errorReply, note: "external report ignored: \(error.message)")
        } catch {
            logger.notice("ignored external report \(event.messageId): \(error)")
            observer?(event, String(describing: error))
        }
    }
}
