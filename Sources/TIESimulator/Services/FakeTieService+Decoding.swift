import DXL
import Foundation
import Logging
import Synchronization
import TIE

// Reading a request's body: hashes, trust levels and limits, each checked with a message saying what is wrong.
extension FakeTieService {
    func parseBody(_ request: DXLMessage) throws -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONValue.parse(request.payload)
        } catch {
            throw BadRequest(message: "the request is not JSON: \(error)")
        }
        guard case .object = value else { throw BadRequest(message: "the request must be a JSON object, not \(value.kindDescription)") }
        return value
    }

    /// Reads `hashes: [{"type", "value": b64}]`, checking types, base64 and digest lengths.
    func hashes(_ body: JSONValue, allowed: [HashType]) throws -> [(type: String, hex: String)] {
        guard let value = body["hashes"] else { throw BadRequest(message: "missing 'hashes'") }
        guard case .array(let entries) = value else { throw BadRequest(message: "'hashes' must be a list of {type, value}, not \(value.kindDescription)") }
        guard !entries.isEmpty else { throw BadRequest(message: "'hashes' is empty") }
        var result: [(type: String, hex: String)] = []
        for entry in entries {
            guard let typeName = entry["type"]?.stringValue else { throw BadRequest(message: "a hash has no string 'type'") }
            guard let type = HashType(rawValue: typeName.lowercased()), allowed.contains(type) else {
                throw BadRequest(message: "unsupported hash type '\(typeName)' (expected \(allowed.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let b64 = entry["value"]?.stringValue else { throw BadRequest(message: "the \(typeName) hash has no string 'value'") }
            guard let data = Data(base64Encoded: b64) else { throw BadRequest(message: "the \(typeName) value '\(b64)' is not base64") }
            guard data.count == type.byteCount else { throw BadRequest(message: "the \(typeName) value is \(data.count) bytes; a \(typeName) is \(type.byteCount)") }
            result.append((type.rawValue, HashEncoding.hex(data)))
        }
        return result
    }

    func trustLevel(_ body: JSONValue) throws -> Int {
        guard let value = body["trustLevel"] else { throw BadRequest(message: "missing 'trustLevel'") }
        guard let level = value.intValue else { throw BadRequest(message: "'trustLevel' must be an integer, not \(value.kindDescription)") }
        guard TrustLevel(rawValue: Int(level)) != nil else { throw BadRequest(message: "unknown trust level \(level)") }
        return Int(level)
    }

    func optionalString(_ body: JSONValue, _ key: String) throws -> String? {
        guard let value = body[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw BadRequest(message: "'\(key)' must be a string, not \(value.kindDescription)") }
        return text
    }

    func publicKey(_ body: JSONValue) throws -> String? {
        guard let b64 = try optionalString(body, "publicKeySha1") else { return nil }
        guard let data = Data(base64Encoded: b64), data.count == 20 else { throw BadRequest(message: "'publicKeySha1' is not a base64 SHA-1") }
        return HashEncoding.hex(data)
    }

    func queryLimit(_ body: JSONValue) throws -> Int {
        guard let value = body["queryLimit"] else { return 500 }
        guard let limit = value.intValue, limit >= 0 else { throw BadRequest(message: "'queryLimit' must be a non-negative integer") }
        return Int(limit)
    }
}
