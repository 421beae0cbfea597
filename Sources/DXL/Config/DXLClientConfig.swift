import Foundation

/// One broker a client may connect to, as listed under `[Brokers]` in `dxlclient.config`.
public struct DXLBroker: Sendable, Equatable, CustomStringConvertible {
    /// The broker's unique id (generated when the line does not give one).
    public var uniqueId: String
    /// The host name tried first.
    public var host: String
    /// The TLS port.
    public var port: Int
    /// The IP address tried when the host name fails.
    public var ipAddress: String?

    public init(uniqueId: String = "", host: String, port: Int = 8883, ipAddress: String? = nil) {
        self.uniqueId = uniqueId
        self.host = host
        self.port = port
        self.ipAddress = ipAddress
    }

    public var description: String { "\(host):\(port)" }

    /// The line `dxlclient.config` uses for this broker: `id;port;host;ip`.
    public var configLine: String {
        [uniqueId, String(port), host, ipAddress].compactMap { $0 }.joined(separator: ";")
    }

    /// Parses a `[Brokers]` value: `id;port;host[;ip]`, or `port;host[;ip]` when the first field is a number.
    public static func parse(_ value: String) -> DXLBroker? {
        let fields = value.split(separator: ";", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count >= 2 else { return nil }
        var index = 0
        var uniqueId = ""
        if Int(fields[0]) == nil {
            uniqueId = fields[0]
            index = 1
        }
        guard fields.count >= index + 2, let port = Int(fields[index]), (1...65535).contains(port),
              !fields[index + 1].isEmpty else { return nil }
        let host = fields[index + 1]
        let ip = fields.count > index + 2 && !fields[index + 2].isEmpty ? fields[index + 2] : nil
        if uniqueId.isEmpty { uniqueId = "{" + UUID().uuidString.lowercased() + "}" }
        return DXLBroker(uniqueId: uniqueId, host: host, port: port, ipAddress: ip)
    }
}

/// Why a `dxlclient.config` could not be used; each case names the file, and the section and key where it applies.
public enum DXLConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case missingSection(file: String, section: String)
    case missingKey(file: String, section: String, key: String)
    case invalidValue(file: String, section: String, key: String, value: String, reason: String)
    case noBrokers(file: String)
    case malformedLine(file: String, line: Int, text: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): cannot read the DXL client configuration: \(reason)"
        case .missingSection(let file, let section):
            return "\(file): section [\(section)] is missing — add it (see README: a complete dxlclient.config)"
        case .missingKey(let file, let section, let key):
            return "\(file): [\(section)] has no '\(key)' — add \(key)=<path>"
        case .invalidValue(let file, let section, let key, let value, let reason):
            return "\(file): [\(section)] \(key)=\(value): \(reason)"
        case .noBrokers(let file):
            return "\(file): [Brokers] lists no broker — add a line like local=local;8883;localhost;127.0.0.1"
        case .malformedLine(let file, let line, let text):
            return "\(file):\(line): cannot read '\(text)' — expected [Section] or key=value"
        }
    }
}

/// How a `DXLClient` connects: broker list, TLS files and client settings — what `dxlclient.config` holds.
///
/// `init(contentsOf:)` reads the same file the Python `dxlclient` reads (ConfigObj INI: `[General]`,
/// `[Certs]`, `[Brokers]`), resolving relative certificate paths against the file's folder.
/// A plain value, safe to share.
public struct DXLClientConfig: Sendable, Equatable {
    /// The CA bundle the broker's certificate must chain to (`[Certs] BrokerCertChain`).
    public var brokerCertChain: String
    /// The client certificate (`[Certs] CertFile`).
    public var certFile: String
    /// The client's private key (`[Certs] PrivateKey`).
    public var privateKey: String
    /// The brokers, tried in order.
    public var brokers: [DXLBroker]
    /// The brokers' WebSocket listeners (`[BrokersWebSockets]`), for clients that connect over WebSockets
    /// (the Python `dxlclient` with `UseWebSockets`). tiesim's own client always uses `brokers`.
    public var webSocketBrokers: [DXLBroker] = []
    /// `[General] UseWebSockets`, written when set: whether a Python `dxlclient` connects over WebSockets.
    public var useWebSockets: Bool?
    /// The MQTT client id (`[General] ClientId`); a new `{uuid}` when nil.
    public var clientId: String?
    /// MQTT 3.1.1 (as dxlclient) or 5.
    public var protocolVersion: MQTTProtocolVersion = .v311
    /// Keep-alive in seconds (dxlclient: 1800).
    public var keepAliveSeconds: Int = 1800
    /// How many rounds over the broker list `connect()` makes before giving up (at least 1).
    public var connectRetries: Int = 3
    /// First delay between `connect()`'s rounds over the brokers; doubles each round. (After a lost
    /// connection the transport retries 0.25 s later, doubling up to `reconnectDelayMax`.)
    public var reconnectDelay: Duration = .seconds(1)
    /// Longest delay between reconnect attempts.
    public var reconnectDelayMax: Duration = .seconds(60)
    /// How long one connect attempt waits for the broker's CONNACK.
    public var connectTimeout: Duration = .seconds(10)
    /// Whether messages this client published are dropped when they come back on its own subscriptions.
    public var ignoresOwnMessages: Bool = true
    /// The largest message this client sends (nil: no limit of its own). A DXL broker disconnects a client
    /// that sends more than its limit (1 MiB), so a larger message is not sent: a response is replaced by
    /// an ErrorResponse saying so (the requester hears why, instead of waiting out its timeout), anything
    /// else fails with `DXLError.messageTooLarge`.
    public var maxMessageSize: Int?
    /// When set, every message this client sends carries its client id as `source_client_id` and this
    /// value as `source_broker_id`, as a DXL broker stamps relayed messages (for the fabric's own services).
    public var stampedBrokerId: String?

    public init(brokerCertChain: String, certFile: String, privateKey: String, brokers: [DXLBroker], webSocketBrokers: [DXLBroker] = [],
                clientId: String? = nil) {
        self.brokerCertChain = brokerCertChain
        self.certFile = certFile
        self.privateKey = privateKey
        self.brokers = brokers
        self.webSocketBrokers = webSocketBrokers
        self.clientId = clientId
    }

    /// The TLS files as the transport takes them.
    public var tlsFiles: TLSFiles { TLSFiles(caBundle: brokerCertChain, certificate: certFile, privateKey: privateKey) }

    /// Reads a `dxlclient.config` file.
    public init(contentsOf path: String) throws(DXLConfigError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable as UTF-8 text" : "no such file"
            throw .unreadable(file: path, reason: reason)
        }
        let ini = try INIFile(text: text, file: path)
        let folder = (path as NSString).deletingLastPathComponent
        func resolve(_ value: String) -> String {
            if value.hasPrefix("/") || folder.isEmpty { return value }
            return (folder as NSString).appendingPathComponent(value)
        }
        guard let certs = ini.sections["Certs"] else { throw .missingSection(file: path, section: "Certs") }
        func required(_ key: String) throws(DXLConfigError) -> String {
            guard let value = certs[key], !value.isEmpty else { throw .missingKey(file: path, section: "Certs", key: key) }
            return resolve(value)
        }
        let chain = try required("BrokerCertChain")
        let cert = try required("CertFile")
        let key = try required("PrivateKey")
        guard ini.sections["Brokers"] != nil else {
            if ini.sections["BrokersWebSockets"]?.isEmpty == false {
                throw .invalidValue(file: path, section: "BrokersWebSockets", key: "*", value: "…",
                                   reason: "WebSocket brokers are not supported by tiesim's client — list the TLS brokers under [Brokers]")
            }
            throw .missingSection(file: path, section: "Brokers")
        }
        func brokerList(_ section: String) throws(DXLConfigError) -> [DXLBroker] {
            let values = ini.sections[section] ?? [:]
            var brokers: [DXLBroker] = []
            for (name, value) in ini.orderedKeys[section, default: []].compactMap({ k in values[k].map { (k, $0) } }) {
                guard let broker = DXLBroker.parse(value) else {
                    throw .invalidValue(file: path, section: section, key: name, value: value,
                                        reason: "expected <id>;<port>;<host>[;<ip>] or <port>;<host>[;<ip>]")
                }
                brokers.append(broker)
            }
            return brokers
        }
        let brokers = try brokerList("Brokers")
        guard !brokers.isEmpty else { throw .noBrokers(file: path) }
        let webSocketBrokers = try brokerList("BrokersWebSockets")
        self.init(brokerCertChain: chain, certFile: cert, privateKey: key, brokers: brokers, webSocketBrokers: webSocketBrokers)
        if let flag = ini.sections["General"]?["UseWebSockets"]?.lowercased() { useWebSockets = ["true", "yes", "on", "1"].contains(flag) }
        if let id = ini.sections["General"]?["ClientId"], !id.isEmpty { clientId = id }
        for file in [chain, cert, key] where !FileManager.default.isReadableFile(atPath: file) {
            let keyName = file == chain ? "BrokerCertChain" : file == cert ? "CertFile" : "PrivateKey"
            throw .invalidValue(file: path, section: "Certs", key: keyName, value: file, reason: "no readable file there")
        }
    }

    /// The text of a `dxlclient.config` for this configuration, readable by the Python `dxlclient`.
    /// Paths are written relative to `folder` when they lie inside it.
    public func fileText(relativeTo folder: String? = nil) -> String {
        func rel(_ path: String) -> String {
            guard let folder else { return path }
            let prefix = folder.hasSuffix("/") ? folder : folder + "/"
            return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
        }
        var lines = ["[General]"]
        if let clientId { lines.append("ClientId=\(clientId)") }
        if let useWebSockets { lines.append("UseWebSockets=\(useWebSockets ? "true" : "false")") }
        lines += ["", "[Certs]", "BrokerCertChain=\(rel(brokerCertChain))", "CertFile=\(rel(certFile))", "PrivateKey=\(rel(privateKey))", "", "[Brokers]"]
        for broker in brokers { lines.append("\(broker.uniqueId)=\(broker.configLine)") }
        lines += ["", "[BrokersWebSockets]"]
        for broker in webSocketBrokers { lines.append("\(broker.uniqueId)=\(broker.configLine)") }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    /// Writes this configuration as `dxlclient.config` text to `path`.
    public func write(to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try fileText(relativeTo: folder.isEmpty ? nil : folder).write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// The INI dialect of ConfigObj as `dxlclient.config` uses it: `[Section]`, `key = value`, `#` comments,
/// optional quotes around values.
struct INIFile {
    var sections: [String: [String: String]] = [:]
    var orderedKeys: [String: [String]] = [:]

    init(text: String, file: String) throws(DXLConfigError) {
        var current: String?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw .malformedLine(file: file, line: index + 1, text: line) }
                let name = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] \t"))
                current = name
                if sections[name] == nil { sections[name] = [:]; orderedKeys[name] = [] }
                continue
            }
            guard let equals = line.firstIndex(of: "="), let section = current else {
                throw .malformedLine(file: file, line: index + 1, text: line)
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, (first == "\"" || first == "'"), value.last == first {
                value = String(value.dropFirst().dropLast())
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            if sections[section]?[key] == nil { orderedKeys[section, default: []].append(key) }
            sections[section, default: [:]][key] = value
        }
    }
}
