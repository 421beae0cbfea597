import ArgumentParser
import DXL
import DXLFabric
import Foundation

/// `tiesim certs`: make a test PKI.
struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a CA, a broker certificate and client certificates, with a dxlclient.config per client.",
        discussion: "Existing files in DIR are reused. Private keys are written with mode 0600."
    )

    @Option(name: .long, help: "Folder to write the certificates to.")
    var out: String

    @Option(name: .long, help: "How many client certificates to create (client1, client2, …).")
    var clients: Int = 1

    @Option(name: .long, help: "The broker port written into the dxlclient.config files.")
    var port: Int = 8883

    @Option(name: .long, help: "The broker host written into the dxlclient.config files.")
    var host: String = "127.0.0.1"

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (1...1_000).contains(clients) else { throw ValidationError("--clients must be from 1 to 1000, not \(clients)") }
        try validatePort(port, option: "port")
    }

    func run() async throws {
        global.bootstrap()
        let names = (1...clients).map { "client\($0)" }
        let certificates: FabricCertificates
        do {
            certificates = try FabricCertificates.prepare(in: out, clients: names)
        } catch {
            printError("tiesim: \(error)")
            throw Exit.environment
        }
        for name in names {
            let config = DXLClientConfig(brokerCertChain: certificates.caCertificate, certFile: certificates.clientCertificate(name),
                                         privateKey: certificates.clientKey(name), brokers: [DXLBroker(uniqueId: "local", host: host, port: port, ipAddress: host)])
            let path = certificates.directory + "/dxlclient-\(name).config"
            try config.write(to: path)
            printLine(path)
        }
        printLine("CA: \(certificates.caCertificate); broker: \(certificates.brokerCertificate) and \(certificates.brokerKey)")
    }
}
