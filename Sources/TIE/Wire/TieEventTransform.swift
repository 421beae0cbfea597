import DXLWire
/// The transforms `dxltieclient`'s callbacks apply before handing an event to the user, so that Swift
/// users get the same dictionary a Python user gets (`callbacks.py`).
///
/// Hash lists become `{type: hex}`, reputation lists become objects keyed by provider id (the keys are
/// the ids as strings, since JSON keys are strings; Python's are ints), `props` are dropped, and
/// certificate public-key hashes become hex. Missing keys are skipped; malformed base64 throws.
public enum TieEventTransform {
    /// A detection or first-instance event: only `hashes` changes. The event is taken, not borrowed:
    /// handed over by its last user, its members are changed in place instead of copied.
    public static func detection(_ event: consuming JSONValue) throws(HashEncodingError) -> JSONValue {
        if let hashes = event["hashes"] { event["hashes"] = try HashEncoding.transformHashes(hashes) }
        return event
    }

    /// A first-instance event (the same transform as a detection).
    public static func firstInstance(_ event: consuming JSONValue) throws(HashEncodingError) -> JSONValue {
        try detection(event)
    }

    /// A file or certificate reputation-change event.
    public static func reputationChange(_ event: JSONValue) throws(HashEncodingError) -> JSONValue {
        var result = event
        if let hashes = event["hashes"] { result["hashes"] = try HashEncoding.transformHashes(hashes) }
        for key in ["newReputations", "oldReputations"] {
            if let block = event[key], let list = block["reputations"] {
                result[key] = try reputations(list)
            }
        }
        if var relationships = event["relationships"], var certificate = relationships["certificate"] {
            if let hashes = certificate["hashes"] { certificate["hashes"] = try HashEncoding.transformHashes(hashes) }
            if let key = certificate["publicKeySha1"]?.stringValue { certificate["publicKeySha1"] = .string(try HashEncoding.hex(base64: key)) }
            relationships["certificate"] = certificate
            result["relationships"] = relationships
        }
        if let key = event["publicKeySha1"]?.stringValue { result["publicKeySha1"] = .string(try HashEncoding.hex(base64: key)) }
        return result
    }

    /// A reputation list → object keyed by provider id, as `_transform_reputations` (later duplicates
    /// win; certificate `overridden.files[].hashes` become hex).
    public static func reputations(_ list: JSONValue) throws(HashEncodingError) -> JSONValue {
        guard case .array(let entries) = list else { return list }
        var result: JSONObject = [:]
        for entry in entries {
            var reputation = entry
            if var overridden = entry["overridden"], case .array(let files)? = overridden["files"] {
                var transformed: [JSONValue] = []
                for file in files {
                    var copy = file
                    if let hashes = file["hashes"] { copy["hashes"] = try HashEncoding.transformHashes(hashes) }
                    transformed.append(copy)
                }
                overridden["files"] = .array(transformed)
                reputation["overridden"] = overridden
            }
            let key: String
            switch entry["providerId"] {
            case .int(let id)?: key = String(id)
            case .string(let id)?: key = id
            case let other?: key = other.description
            case nil: key = "null"
            }
            result[key] = reputation
        }
        return .object(result)
    }
}
