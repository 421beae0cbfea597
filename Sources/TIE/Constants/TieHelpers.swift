import Foundation

/// The helpers of `dxltieclient`'s constants classes (`EpochMixin`, `EnterpriseAttrib`, `FileEnterpriseAttrib`).
public enum TieHelpers {
    /// `EpochMixin.to_localtime`: epoch seconds (number or numeric string) → a date.
    public static func localTime(_ epoch: String) -> Date? {
        Double(epoch).map { Date(timeIntervalSince1970: $0) }
    }

    /// `EpochMixin.to_localtime_string`: epoch seconds → local time formatted with strftime's `format`
    /// (default `%Y-%m-%d %H:%M:%S`), in `timeZone` (default the machine's, as Python's `time.localtime`).
    public static func localTimeString(_ epoch: Int64, format: String = "%Y-%m-%d %H:%M:%S", timeZone: TimeZone = .current) -> String {
        // Translate the strftime fields dxltieclient's samples use into a DateFormatter pattern.
        let mapping: [Character: String] = ["Y": "yyyy", "m": "MM", "d": "dd", "H": "HH", "M": "mm", "S": "ss", "y": "yy", "b": "MMM", "B": "MMMM", "p": "a", "I": "hh", "j": "DDD", "Z": "zzz", "%": "%"]
        var pattern = ""
        var literal = ""
        var iterator = format.makeIterator()
        func flushLiteral() {
            if !literal.isEmpty { pattern += "'" + literal.replacingOccurrences(of: "'", with: "''") + "'"; literal = "" }
        }
        while let character = iterator.next() {
            if character == "%", let field = iterator.next() {
                if let replacement = mapping[field], field != "%" {
                    flushLiteral()
                    pattern += replacement
                } else {
                    literal.append(field == "%" ? "%" : field)
                }
            } else {
                literal.append(character)
            }
        }
        flushLiteral()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = pattern
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
    }

    /// `EnterpriseAttrib.to_version_tuple`: the server version attribute → (major, minor, patch, build).
    public static func versionTuple(_ value: String) -> (major: Int, minor: Int, patch: Int, build: Int)? {
        guard let number = UInt64(value) else { return nil }
        return (Int((number >> 56) & 0xff), Int((number >> 48) & 0xff), Int((number >> 32) & 0xffff), Int(number & 0xffff_ffff))
    }

    /// `EnterpriseAttrib.to_version_string`: "1.4.0.190".
    public static func versionString(_ value: String) -> String? {
        versionTuple(value).map { "\($0.major).\($0.minor).\($0.patch).\($0.build)" }
    }

    /// `FileEnterpriseAttrib.to_aggregate_tuple`: a base64 list of little-endian uint16 values
    /// (count, max, min, last, average ×100) → the tuple, average divided by 100 when above 0.
    public static func aggregateTuple(_ base64: String) -> [Double]? {
        guard let data = Data(base64Encoded: base64), data.count % 2 == 0 else { return nil }
        let bytes = [UInt8](data)
        var values: [Double] = stride(from: 0, to: bytes.count, by: 2).map { Double(UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        if values.count >= 5, values[4] > 0 { values[4] /= 100.0 }
        return values
    }
}
