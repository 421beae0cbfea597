import DXL
import DXLBroker
import Foundation
import Synchronization

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
            try ca.issue(commonName: BrokerLayout.bridgeIdentity, role: .broker).write(certificate: files.brokerCertificate, privateKey: files.brokerKey)
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

// MARK: Shared within a process

extension FabricCertificates {
    /// The folder of the certificates shared by the fabrics of this process, with the clients made so far.
    private static let shared = Mutex<(folder: String, clients: Set<String>, removedAtExit: Bool)>(
        (NSTemporaryDirectory() + "tiesim-certificates-\(getpid())", [], false))

    /// Certificates shared by every fabric this process starts — test suites start many, and RSA key
    /// generation is the slow part of a start: made once (one CA), with a certificate for each of
    /// `clients`, added when a later caller names more. Thread-safe.
    /// The folder is removed when the process exits (each test run would otherwise leave one behind).
    public static func processShared(clients: [String]) throws(PKIError) -> FabricCertificates {
        try shared.withLock { shared throws(PKIError) -> FabricCertificates in
            let files = try prepare(in: shared.folder, clients: Array(shared.clients.union(clients)).sorted())
            shared.clients.formUnion(clients)
            if !shared.removedAtExit {
                shared.removedAtExit = true
                atexit { FabricCertificates.removeSharedFolder() }
            }
            return files
        }
    }

    /// Removes the shared folder (at exit).
    static func removeSharedFolder() {
        let folder = shared.withLock { $0.folder }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Copies the files into `directory` (a fabric's own folder, which it may add to); returns the copy.
    public func copy(to directory: String) throws(PKIError) -> FabricCertificates {
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            for name in try FileManager.default.contentsOfDirectory(atPath: self.directory) {
                try FileManager.default.copyItem(atPath: self.directory + "/" + name, toPath: target + "/" + name)
            }
        } catch {
            throw .unwritable(path: target, reason: String(describing: error))
        }
        return FabricCertificates(directory: target)
    }
}

