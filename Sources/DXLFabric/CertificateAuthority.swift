import DXL
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Why certificates could not be made, read or written.
public enum PKIError: Error, Sendable, CustomStringConvertible {
    case generation(String)
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .generation(let reason): return "could not generate a certificate: \(reason)"
        case .unreadable(let path, let reason): return "\(path): cannot read certificate or key: \(reason) — delete the state directory to make new certificates"
        case .unwritable(let path, let reason): return "\(path): cannot write: \(reason)"
        }
    }
}

/// A certificate and its RSA private key, PEM-encoded.
public struct IssuedCertificate: Sendable {
    /// The certificate, PEM.
    public let certificatePEM: String
    /// The private key, PEM (PKCS#8).
    public let privateKeyPEM: String
    /// The parsed certificate.
    public let certificate: Certificate

    /// Writes the certificate (mode 0644) and the key (mode 0600, from creation on).
    public func write(certificate certificatePath: String, privateKey keyPath: String) throws(PKIError) {
        try PEMFile.write(certificatePEM, to: certificatePath, mode: 0o644)
        try PEMFile.write(privateKeyPEM, to: keyPath, mode: 0o600)
    }
}

/// A certificate authority that issues RSA-2048 broker and client certificates, generated in-process.
///
/// RSA rather than ECDSA so that TLS 1.2 clients restricted to `AES128-SHA256` (as `dxlclient` asks)
/// can still connect. A value type; thread-safe.
public struct CertificateAuthority: Sendable {
    /// What a certificate is for.
    public enum Role: Sendable {
        /// A broker: SAN `localhost` and `127.0.0.1`, server and client auth (bridges are clients too).
        case broker
        /// A client: client auth.
        case client
    }

    /// The CA's certificate.
    public let certificate: Certificate
    /// The CA's certificate and key as PEM.
    public let issued: IssuedCertificate
    private let key: _RSA.Signing.PrivateKey
    /// The CA's key, to sign with.
    var signingKey: Certificate.PrivateKey { Certificate.PrivateKey(key) }

    /// The subject of a certificate tiesim makes for `commonName`.
    static func subject(_ commonName: String) throws -> DistinguishedName {
        try DistinguishedName {
            OrganizationName("tiesim")
            CommonName(commonName)
        }
    }

    /// Generates a new self-signed CA called `commonName`, valid for `validity`.
    public static func generate(commonName: String = "tiesim test CA", validity: TimeInterval = 10 * 365 * 86_400) throws(PKIError) -> CertificateAuthority {
        do {
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let privateKey = Certificate.PrivateKey(key)
            let name = try subject(commonName)
            let now = Date()
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: privateKey.publicKey,
                notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(validity),
                issuer: name,
                subject: name,
                signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: privateKey.publicKey)
                },
                issuerPrivateKey: privateKey
            )
            return try CertificateAuthority(certificate: certificate, key: key)
        } catch let error as PKIError {
            throw error
        } catch {
            throw .generation(String(describing: error))
        }
    }

    private init(certificate: Certificate, key: _RSA.Signing.PrivateKey) throws {
        self.certificate = certificate
        self.key = key
        self.issued = IssuedCertificate(
            certificatePEM: try certificate.serializeAsPEM().pemString,
            privateKeyPEM: key.pkcs8PEMRepresentation,
            certificate: certificate
        )
    }

    /// Loads a CA written earlier by `issued.write(...)`.
    public init(certificatePath: String, privateKeyPath: String) throws(PKIError) {
        let certificatePEM = try PEMFile.read(certificatePath)
        let keyPEM = try PEMFile.read(privateKeyPath)
        do {
            try self.init(certificate: Certificate(pemEncoded: certificatePEM), key: _RSA.Signing.PrivateKey(pemRepresentation: keyPEM))
        } catch {
            throw .unreadable(path: certificatePath, reason: String(describing: error))
        }
    }

    /// Issues an RSA-2048 certificate for `commonName`, valid from `notBefore` for `validity` seconds.
    public func issue(
        commonName: String,
        role: Role,
        notBefore: Date = Date().addingTimeInterval(-3600),
        validity: TimeInterval = 10 * 365 * 86_400
    ) throws(PKIError) -> IssuedCertificate {
        do {
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let privateKey = Certificate.PrivateKey(key)
            let certificate = try signed(publicKey: privateKey.publicKey, subject: Self.subject(commonName), role: role, notBefore: notBefore, validity: validity)
            return IssuedCertificate(
                certificatePEM: try certificate.serializeAsPEM().pemString,
                privateKeyPEM: key.pkcs8PEMRepresentation,
                certificate: certificate
            )
        } catch let error as PKIError {
            throw error
        } catch {
            throw .generation(String(describing: error))
        }
    }
}

extension CertificateAuthority {
    /// Why a certificate signing request was not signed.
    public struct RequestRefusal: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Signs a PKCS #10 certificate signing request (PEM) as a client certificate for its subject and
    /// key, as ePO signs a DXL client's request: the request's own signature must hold, and its subject
    /// must have a common name (the client's identity on the fabric) not in `reserved`.
    /// Returns the certificate (PEM) and the common name.
    public func sign(requestPEM: String, reserved: Set<String> = [], validity: TimeInterval = 10 * 365 * 86_400) throws(RequestRefusal)
        -> (certificatePEM: String, commonName: String) {
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(pemEncoded: requestPEM)
        } catch {
            throw RequestRefusal(description: "not a PEM certificate signing request (\(error))")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw RequestRefusal(description: "the request's signature does not match its key")
        }
        let names = request.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { String(describing: $0.value) }
        guard let commonName = names.first, !commonName.isEmpty else {
            throw RequestRefusal(description: "the request's subject has no common name (CN), which names the client on the fabric")
        }
        guard !reserved.contains(commonName) else {
            throw RequestRefusal(description: "the common name '\(commonName)' is tiesim's own; choose another")
        }
        do {
            let certificate = try signed(publicKey: request.publicKey, subject: request.subject, role: .client,
                                         notBefore: Date().addingTimeInterval(-3600), validity: validity)
            return (try certificate.serializeAsPEM().pemString, commonName)
        } catch {
            throw RequestRefusal(description: "could not sign the request: \(error)")
        }
    }
}

extension CertificateAuthority {
    /// A certificate for `publicKey` and `subject` in `role`, issued and signed by this CA.
    func signed(publicKey: Certificate.PublicKey, subject: DistinguishedName, role: Role, notBefore: Date, validity: TimeInterval) throws -> Certificate {
        let extensions: Certificate.Extensions
        switch role {
        case .broker:
            extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"),
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                ])
                SubjectKeyIdentifier(hash: publicKey)
            }
        case .client:
            extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectKeyIdentifier(hash: publicKey)
            }
        }
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: notBefore.addingTimeInterval(validity),
            issuer: certificate.subject,
            subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: extensions,
            issuerPrivateKey: signingKey
        )
    }
}

/// Reading and writing PEM files, keys created with mode 0600 from the first byte.
enum PEMFile {
    static func read(_ path: String) throws(PKIError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
        }
    }

    static func write(_ text: String, to path: String, mode: mode_t) throws(PKIError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw .unwritable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw .unwritable(path: path, reason: String(cString: strerror(errno))) }
            written += n
        }
    }
}
