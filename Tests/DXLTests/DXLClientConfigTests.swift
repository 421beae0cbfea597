import Foundation
import Testing
@testable import DXL

@Suite("dxlclient.config files")
final class DXLClientConfigTests {
    let folder: String

    deinit {
        try? FileManager.default.removeItem(atPath: folder)
    }

    init() throws {
        folder = NSTemporaryDirectory() + "tiesim-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/certs", withIntermediateDirectories: true)
        for name in ["ca-bundle.crt", "client.crt", "client.key"] {
            _ = FileManager.default.createFile(atPath: folder + "/certs/" + name, contents: Data("x".utf8))
        }
    }

    func write(_ text: String) throws -> String {
        let path = folder + "/dxlclient.config"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a config as the broker console writes it is read, with paths resolved against its folder")
    func consoleSample() throws {
        let path = try write("""
        [General]
        ClientId = {11111111-2222-3333-4444-555555555555}

        [Certs]
        BrokerCertChain=certs/ca-bundle.crt
        CertFile=certs/client.crt
        PrivateKey=certs/client.key

        [Brokers]
        # comment lines are ignored
        local=local;8883;localhost;127.0.0.1
        {aaaa}={aaaa};8993;broker2.example;10.0.0.2
        third=9999;hostonly

        [BrokersWebSockets]
        local=local;443;localhost;127.0.0.1
        """)
        let config = try DXLClientConfig(contentsOf: path)
        #expect(config.brokerCertChain == folder + "/certs/ca-bundle.crt")
        #expect(config.certFile == folder + "/certs/client.crt")
        #expect(config.privateKey == folder + "/certs/client.key")
        #expect(config.clientId == "{11111111-2222-3333-4444-555555555555}")
        #expect(config.brokers.count == 3)
        #expect(config.brokers[0] == DXLBroker(uniqueId: "local", host: "localhost", port: 8883, ipAddress: "127.0.0.1"))
        #expect(config.brokers[1] == DXLBroker(uniqueId: "{aaaa}", host: "broker2.example", port: 8993, ipAddress: "10.0.0.2"))
        #expect(config.brokers[2].host == "hostonly" && config.brokers[2].port == 9999 && config.brokers[2].ipAddress == nil)
        #expect(config.brokers[2].uniqueId.hasPrefix("{"))
        #expect(config.webSocketBrokers == [DXLBroker(uniqueId: "local", host: "localhost", port: 443, ipAddress: "127.0.0.1")])
        #expect(config.useWebSockets == nil)
    }

    @Test("WebSocket brokers and UseWebSockets are written and read back")
    func webSocketsRoundTrip() throws {
        var config = DXLClientConfig(brokerCertChain: folder + "/certs/ca-bundle.crt", certFile: folder + "/certs/client.crt", privateKey: folder + "/certs/client.key",
                                     brokers: [DXLBroker(uniqueId: "local", host: "127.0.0.1", port: 8883, ipAddress: "127.0.0.1")],
                                     webSocketBrokers: [DXLBroker(uniqueId: "local", host: "127.0.0.1", port: 8443, ipAddress: "127.0.0.1")])
        config.useWebSockets = true
        let path = folder + "/dxlclient-websockets.config"
        try config.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("UseWebSockets=true\n"))
        #expect(text.contains("[BrokersWebSockets]\nlocal=local;8443;127.0.0.1;127.0.0.1\n"))
        let read = try DXLClientConfig(contentsOf: path)
        #expect(read.webSocketBrokers == config.webSocketBrokers)
        #expect(read.useWebSockets == true)
        #expect(read.brokers == config.brokers)
    }

    @Test("absolute paths stay as they are")
    func absolutePaths() throws {
        let path = try write("[Certs]\nBrokerCertChain=\(folder)/certs/ca-bundle.crt\nCertFile=\(folder)/certs/client.crt\nPrivateKey=\(folder)/certs/client.key\n[Brokers]\nb=1883;h\n")
        let config = try DXLClientConfig(contentsOf: path)
        #expect(config.brokerCertChain == folder + "/certs/ca-bundle.crt")
        #expect(config.clientId == nil)
    }

    @Test("a missing file, section, key or broker is an error naming the file, section and key")
    func errors() throws {
        #expect(throws: DXLConfigError.unreadable(file: folder + "/nope.config", reason: "no such file")) {
            try DXLClientConfig(contentsOf: folder + "/nope.config")
        }
        let noCerts = try write("[Brokers]\nb=8883;h\n")
        #expect(throws: DXLConfigError.missingSection(file: noCerts, section: "Certs")) { try DXLClientConfig(contentsOf: noCerts) }
        let noKey = try write("[Certs]\nBrokerCertChain=certs/ca-bundle.crt\nCertFile=certs/client.crt\n[Brokers]\nb=8883;h\n")
        let error = #expect(throws: DXLConfigError.self) { try DXLClientConfig(contentsOf: noKey) }
        #expect(error == .missingKey(file: noKey, section: "Certs", key: "PrivateKey"))
        #expect(error?.description.contains("[Certs] has no 'PrivateKey'") == true)
        let badBroker = try write("[Certs]\nBrokerCertChain=certs/ca-bundle.crt\nCertFile=certs/client.crt\nPrivateKey=certs/client.key\n[Brokers]\nb=local;notaport;h\n")
        #expect(throws: DXLConfigError.self) { try DXLClientConfig(contentsOf: badBroker) }
        let noBrokers = try write("[Certs]\nBrokerCertChain=certs/ca-bundle.crt\nCertFile=certs/client.crt\nPrivateKey=certs/client.key\n[Brokers]\n")
        #expect(throws: DXLConfigError.noBrokers(file: noBrokers)) { try DXLClientConfig(contentsOf: noBrokers) }
        let missingFile = try write("[Certs]\nBrokerCertChain=certs/missing.crt\nCertFile=certs/client.crt\nPrivateKey=certs/client.key\n[Brokers]\nb=8883;h\n")
        #expect(throws: DXLConfigError.invalidValue(file: missingFile, section: "Certs", key: "BrokerCertChain", value: folder + "/certs/missing.crt", reason: "no readable file there")) {
            try DXLClientConfig(contentsOf: missingFile)
        }
        let garbage = try write("[Certs\n")
        #expect(throws: DXLConfigError.malformedLine(file: garbage, line: 1, text: "[Certs")) { try DXLClientConfig(contentsOf: garbage) }
    }

    @Test("a written config reads back the same, with paths relative to its folder")
    func writeReadBack() throws {
        var config = DXLClientConfig(brokerCertChain: folder + "/certs/ca-bundle.crt", certFile: folder + "/certs/client.crt",
                                     privateKey: folder + "/certs/client.key",
                                     brokers: [DXLBroker(uniqueId: "local", host: "127.0.0.1", port: 18_883, ipAddress: "127.0.0.1")])
        config.clientId = "{cid}"
        let path = folder + "/dxlclient.config"
        try config.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("BrokerCertChain=certs/ca-bundle.crt"))
        #expect(text.contains("local=local;18883;127.0.0.1;127.0.0.1"))
        let read = try DXLClientConfig(contentsOf: path)
        #expect(read == config)
    }

    @Test("DXL topic wildcards expand the way dxlclient's generator does")
    func wildcardCandidates() {
        #expect(DXLTopic.candidates(for: "/a/b/c") == ["/a/b/c", "/a/b/#", "/a/#", "/#", "#"])
        #expect(DXLTopic.candidates(for: "/a/b/#") == ["/a/b/#", "/a/#", "/#", "#"])
        #expect(DXLTopic.matches(filter: "/a/#", topic: "/a/b/c"))
        #expect(DXLTopic.matches(filter: "#", topic: "/x"))
        #expect(!DXLTopic.matches(filter: "/a/#", topic: "/ab"))
        #expect(!DXLTopic.matches(filter: "/a/b", topic: "/a/b/c"))
    }
}

@Suite("Client creation")
struct ClientCreationTests {
    @Test("a client whose TLS files are missing is refused with the files named, and cleans up")
    func missingTLSFiles() {
        for _ in 0..<3 {
            let config = DXLClientConfig(brokerCertChain: "/nonexistent/ca.crt", certFile: "/nonexistent/client.crt", privateKey: "/nonexistent/client.key",
                                         brokers: [DXLBroker(host: "127.0.0.1")])
            do {
                _ = try DXLClient(config: config)
                Issue.record("a client without its TLS files was created")
            } catch {
                #expect(String(describing: error).contains("/nonexistent/ca.crt"))
            }
        }
    }

    @Test("a client whose TLS files are not certificates is refused with OpenSSL's reason")
    func unusableTLSFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tiesim-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["ca.crt", "client.crt", "client.key"] {
            try "not a certificate\n".write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let config = DXLClientConfig(brokerCertChain: folder.appendingPathComponent("ca.crt").path, certFile: folder.appendingPathComponent("client.crt").path,
                                     privateKey: folder.appendingPathComponent("client.key").path, brokers: [DXLBroker(host: "127.0.0.1")])
        do {
            _ = try DXLClient(config: config)
            Issue.record("a client with unusable TLS files was created")
        } catch {
            let text = String(describing: error)
            #expect(text.contains("OpenSSL refused them") && text.contains("ca.crt"), "\(text)")
        }
    }
}

@Suite("Recent message ids")
struct RecentIdsTests {
    @Test("the last `capacity` ids are remembered, older ones forgotten in order")
    func ring() {
        var ids = RecentIds(capacity: 3)
        #expect(ids.isEmpty)
        for id in ["a", "b", "c"] { ids.insert(id) }
        #expect(["a", "b", "c"].allSatisfy(ids.contains))
        ids.insert("d")
        #expect(!ids.contains("a") && ids.contains("d"))
        ids.insert("e")
        ids.insert("f")
        #expect(!ids.contains("b") && !ids.contains("c") && ["d", "e", "f"].allSatisfy(ids.contains))
    }
}
