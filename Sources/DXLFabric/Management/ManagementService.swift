import DXL
import DXLWire
import Foundation
import Logging

/// The management service DXL clients are provisioned from, as ePO (or the OpenDXL broker's
/// management interface) offers it to `dxlclient provisionconfig` and `dxlclient updateconfig`: HTTPS
/// with basic authentication, `GET /remote/<command>?…&:output=json`, answering `OK:` and a JSON value
/// on the next line, or `ERROR <code>:` and a message.
///
/// - `DxlBrokerMgmt.generateOpenDXLClientProvisioningPackageCmd?csrString=<PEM>`: signs the client's
///   request with the fabric's CA and answers `"<CA bundle>,<certificate>,<brokers>,<WebSocket brokers>"`
///   (brokers as `guid=guid;port;host;ip` lines).
/// - `DxlClientMgmt.createClientCaBundle`: the CA bundle.
/// - `DxlClientMgmt.getBrokerList`: `{"brokers": [...], "webSocketBrokers": [...]}` as a JSON string.
///
/// Wrong credentials get 401 (the CLI reports the HTTP error); a bad request gets `ERROR 400:` with
/// what is wrong, and nothing is signed. Threading: any thread.
package final class ManagementService: Sendable {
    /// The brokers a provisioned client is given: TLS and WebSocket listeners.
    package typealias BrokerList = @Sendable () -> (brokers: [DXLBroker], webSocketBrokers: [DXLBroker])

    private let listener: SocketListener
    /// The port it listens on.
    package var port: Int { listener.port }

    /// Serves on `host:port` (0: a free port) with the broker certificate of `certificates`, signing
    /// with their CA; `user` and `password` are the only credentials accepted. Client certificates
    /// whose common name is in `reserved` (tiesim's own identities) are not signed.
    package init(host: String, port: Int, certificates: FabricCertificates, user: String, password: String, reserved: Set<String>,
                 brokers: @escaping BrokerList, logger: Logger) throws {
        let context = try TLSContext(serverCertificate: certificates.brokerCertificate, key: certificates.brokerKey, clientCA: nil)
        let authority = try certificates.authority()
        let caBundle = try String(contentsOfFile: certificates.caCertificate, encoding: .utf8)
        let expected = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        listener = try SocketListener(name: "management service", host: host, port: port, context: context, maxConnections: 64, logger: logger) { connection in
            guard case .head(let head, _) = HTTPRequestHead.read(from: connection, limit: 65_536) else { return }
            let reply = ManagementService.answer(head, expectedAuthorization: expected, authority: authority, caBundle: caBundle,
                                                 reserved: reserved, brokers: brokers, logger: logger)
            connection.write(reply)
        }
    }

    /// Closes the listener and every connection.
    package func stop() { listener.stop() }

    /// The response to one request.
    static func answer(_ head: HTTPRequestHead, expectedAuthorization: String, authority: CertificateAuthority, caBundle: String,
                       reserved: Set<String>, brokers: BrokerList, logger: Logger) -> [UInt8] {
        let text = [("Content-Type", "text/plain; charset=utf-8")]
        guard head.method == "GET" else {
            return httpResponse(status: 405, reason: "Method Not Allowed", headers: text + [("Allow", "GET")], body: "commands are GET requests\n")
        }
        guard head.headers["authorization"] == expectedAuthorization else {
            logger.warning("management service: refused \(head.path) (wrong or missing credentials)")
            return httpResponse(status: 401, reason: "Unauthorized", headers: text + [("WWW-Authenticate", "Basic realm=\"tiesim\"")],
                                body: "wrong user name or password\n")
        }
        func ok(_ value: JSONValue) -> [UInt8] {
            httpResponse(status: 200, reason: "OK", headers: text, body: "OK:\r\n" + value.serialized() + "\r\n")
        }
        func error(_ message: String) -> [UInt8] {
            httpResponse(status: 200, reason: "OK", headers: text, body: "ERROR 400:\r\n" + message + "\r\n")
        }
        let lines = { (list: [DXLBroker]) in list.map { "\($0.uniqueId)=\($0.configLine)" }.joined(separator: "\n") }
        switch head.path {
        case "/remote/DxlBrokerMgmt.generateOpenDXLClientProvisioningPackageCmd":
            guard let request = head.queryValue("csrString"), !request.isEmpty else {
                return error("csrString is missing: send the client's certificate signing request (PEM)")
            }
            let signed: (certificatePEM: String, commonName: String)
            do {
                signed = try authority.sign(requestPEM: request, reserved: reserved)
            } catch let refusal {
                logger.warning("management service: did not sign a certificate request: \(refusal)")
                return error("cannot sign the certificate request: \(refusal)")
            }
            logger.notice("management service: signed a client certificate for '\(signed.commonName)'")
            let listed = brokers()
            var parts = [caBundle, signed.certificatePEM, lines(listed.brokers)]
            if !listed.webSocketBrokers.isEmpty { parts.append(lines(listed.webSocketBrokers)) }
            return ok(.string(parts.joined(separator: ",")))
        case "/remote/DxlClientMgmt.createClientCaBundle":
            return ok(.string(caBundle))
        case "/remote/DxlClientMgmt.getBrokerList":
            let listed = brokers()
            let entries = { (list: [DXLBroker]) in
                JSONValue.array(list.map { .object(["hostName": .string($0.host), "guid": .string($0.uniqueId), "ipAddress": .string($0.ipAddress ?? $0.host),
                                                    "port": .int(Int64($0.port))]) })
            }
            return ok(.string(JSONValue.object(["brokers": entries(listed.brokers), "webSocketBrokers": entries(listed.webSocketBrokers)]).serialized()))
        default:
            return httpResponse(status: 404, reason: "Not Found", headers: text,
                                body: "unknown command \(head.path) — tiesim serves DxlBrokerMgmt.generateOpenDXLClientProvisioningPackageCmd, "
                                    + "DxlClientMgmt.createClientCaBundle and DxlClientMgmt.getBrokerList under /remote/\n")
        }
    }
}
