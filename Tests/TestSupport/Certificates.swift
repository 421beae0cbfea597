import DXLFabric
import Foundation

/// The certificates every test of this process uses: one CA, the broker's, and the clients the suites
/// name, made once (RSA key generation is the slow part) in the process-wide folder `withTIEFabric`
/// shares too.
public let testCertificates: FabricCertificates = {
    do {
        return try FabricCertificates.processShared(clients: ["client", "client2", "python", "service", "swift", "tiesim"])
    } catch {
        fatalError("cannot create test certificates: \(error)")
    }
}()
