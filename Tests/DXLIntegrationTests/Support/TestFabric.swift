import DXL
import DXLFabric
import TestSupport
import Foundation
import Synchronization

/// A real mosquitto broker for one test, stopped by `stop()` (call it in `defer`).
struct TestBroker {
    let broker: LocalBroker
    let directory: String

    static func start(options: LocalBroker.Options = LocalBroker.Options()) async throws -> TestBroker {
        let directory = NSTemporaryDirectory() + "tiesim-tests-\(getpid())/broker-\(UUID().uuidString.prefix(8))"
        let broker = LocalBroker(directory: directory, certificates: testCertificates, options: options)
        try await broker.start()
        return TestBroker(broker: broker, directory: directory)
    }

    /// A client configuration using client certificate `client`.
    func config(client: String = "client") -> DXLClientConfig {
        var config = broker.clientConfig(client: client)
        config.connectRetries = 1
        return config
    }

    /// Writes a dxlclient.config for the Python client and returns its path.
    func writePythonConfig(client: String = "python") throws -> String {
        let path = (directory as NSString).appendingPathComponent("dxlclient-\(client).config")
        try broker.clientConfig(client: client).write(to: path)
        return path
    }

    /// A connected Swift client.
    func connectedClient(client: String = "client") async throws -> DXLClient {
        let dxl = try DXLClient(config: config(client: client))
        try await dxl.connect()
        return dxl
    }

    func stop() {
        broker.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

