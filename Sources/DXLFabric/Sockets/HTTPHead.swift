import Foundation

/// The head of an HTTP/1.1 request (request line and headers), as the fabric's TLS listeners read it:
/// the WebSocket upgrade and the management service's commands. A plain value.
package struct HTTPRequestHead: Sendable, Equatable {
    package var method: String
    /// The request target as sent (path and query).
    package var target: String
    /// Header values by lower-cased name (a repeated header's values joined with ", ").
    package var headers: [String: String]

    /// The path, without the query.
    package var path: String { String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }

    /// The query's parameters, percent-decoded (`+` is a space), in order.
    package var query: [(name: String, value: String)] {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return [] }
        return parts[1].split(separator: "&").map { pair in
            let fields = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decode(fields[0]), fields.count > 1 ? decode(fields[1]) : "")
        }
    }

    /// The first value of query parameter `name`.
    package func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }

    /// Parses a head (everything before the blank line); nil when it is not an HTTP/1.x request.
    package init?(_ text: String) {
        var lines = text.components(separatedBy: "\r\n")
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return nil }
        method = String(requestLine[0])
        target = String(requestLine[1])
        headers = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
    }

    /// What reading a head gave.
    package enum ReadResult {
        /// The head, and the bytes read after it (the start of the body).
        case head(HTTPRequestHead, rest: [UInt8])
        /// More than the limit before the blank line.
        case tooLarge
        /// Not an HTTP/1.x request.
        case malformed
        /// The peer closed, or did not finish the head in time.
        case ended
    }

    /// Reads a head from `connection`: at most `limit` bytes, finished before `deadline` (a peer that
    /// sends a byte now and then cannot hold the connection longer). The blank line is searched for in
    /// what is new only, so a large head costs linear time.
    package static func read(from connection: SocketConnection, limit: Int = 16_384,
                             deadline: ContinuousClock.Instant = .now + .seconds(10)) -> ReadResult {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var searchFrom = 0
        while received.count <= limit {
            guard ContinuousClock.now < deadline else { return .ended }
            switch chunk.withUnsafeMutableBytes({ connection.read(into: $0) }) {
            case .closed: return .ended
            case .again: continue
            case .bytes(let count): received += chunk.prefix(count)
            }
            // Not HTTP at all (an MQTT client at a WebSocket port, say): no point waiting for a blank line.
            let method = received.prefix { $0 != 32 }
            guard method.count <= 16, method.allSatisfy({ (65...90).contains($0) }) else { return .malformed }
            var index = max(searchFrom - 3, 0)
            while index + 3 < received.count {
                if received[index] == 13 && received[index + 1] == 10 && received[index + 2] == 13 && received[index + 3] == 10 {
                    guard index <= limit else { return .tooLarge }
                    guard let head = HTTPRequestHead(String(decoding: received[..<index], as: UTF8.self)) else { return .malformed }
                    return .head(head, rest: Array(received[(index + 4)...]))
                }
                index += 1
            }
            searchFrom = received.count
        }
        return .tooLarge
    }
}

/// An HTTP/1.1 response as text bytes, with `Content-Length` and `Connection: close` unless told.
package func httpResponse(status: Int, reason: String, headers: [(String, String)] = [], body: String = "") -> [UInt8] {
    var text = "HTTP/1.1 \(status) \(reason)\r\n"
    for (name, value) in headers { text += "\(name): \(value)\r\n" }
    if status != 101 {
        text += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n"
    }
    text += "\r\n" + body
    return Array(text.utf8)
}
