import DXL
import Foundation

/// The certificate files of a local test fabric in one folder: a CA, a broker certificate and client
/// certificates. `prepare` creates what is missing and reuses what is there, so runs can share a folder.
public struct FabricCertificates: Sendable {
    /// The folder holding the files.
    public let directory: String

    public var caCertificate: String { path("ca.crt") }
    public var caKey: String { path("ca.key") }
    public var brokerCertificate: String { path("broker.crt") }
    public var brokerKey: String { path("broker.key") }
    /// The certificate of client `name`.
    public func clientCertificate(_ name: String) -> String { path("\(name).crt") }
    /// The private key of client `name`.
    public func clientKey(_ name: String) -> String { path("\(name).key") }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Makes (or reuses) the CA, the broker certificate and a certificate for each of `clients`,
    /// in `directory` (created with mode 0700 when missing).
    public static func prepare(in directory: String, clients: [String] = ["client"]) throws(PKIError) -> FabricCertificates {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .unwritable(path: absolute, reason: String(describing: error))
        }
        let files = FabricCertificates(directory: absolute)
        let exists = { (path: String) in FileManager.default.fileExists(atPath: path) }
        let ca: CertificateAuthority
        if exists(files.caCertificate) && exists(files.caKey) {
            ca = try CertificateAuthority(certificatePath: files.caCertificate, privateKeyPath: files.caKey)
        } else {
            ca = try CertificateAuthority.generate()
            try ca.issued.write(certificate: files.caCertificate, privateKey: files.caKey)
            for stale in [files.brokerCertificate, files.brokerKey] { try? FileManager.default.removeItem(atPath: stale) }
            for client in clients { try? FileManager.default.removeItem(atPath: files.clientCertificate(client)) }
        }
        if !exists(files.brokerCertificate) || !exists(files.brokerKey) {
            try ca.issue(commonName: "tiesim-broker", role: .broker).write(certificate: files.brokerCertificate, privateKey: files.brokerKey)
        }
        for client in clients where !exists(files.clientCertificate(client)) || !exists(files.clientKey(client)) {
            try ca.issue(commonName: client, role: .client).write(certificate: files.clientCertificate(client), privateKey: files.clientKey(client))
        }
        return files
    }

    /// The CA, loaded from the folder (to issue more certificates).
    public func authority() throws(PKIError) -> CertificateAuthority {
        try CertificateAuthority(certificatePath: caCertificate, privateKeyPath: caKey)
    }
}
