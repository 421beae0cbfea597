import Foundation

/// MQTT protocol versions the transport speaks.
public enum MQTTProtocolVersion: Sendable, Equatable {
    /// MQTT 3.1.1, what `dxlclient` uses.
    case v311
    /// MQTT 5; subscriptions use No Local so a client never receives its own publications.
    case v5
}

/// The files for mutual TLS: the CA bundle the broker's certificate must chain to, and our certificate and key.
public struct TLSFiles: Sendable, Equatable {
    public var caBundle: String
    public var certificate: String
    public var privateKey: String
    public init(caBundle: String, certificate: String, privateKey: String) {
        self.caBundle = caBundle
        self.certificate = certificate
        self.privateKey = privateKey
    }
}

/// Errors of the MQTT transport, translated from libmosquitto's codes in this one place.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libmosquitto refused an operation; `reason` is its `mosquitto_strerror` text.
    case library(operation: String, code: Int32, reason: String)
    /// The TLS files were rejected before connecting (unreadable or mismatched).
    case tlsSetup(reason: String)
    /// The TCP/TLS connection to `host:port` failed.
    case connectFailed(host: String, port: Int, reason: String)
    /// The broker refused the MQTT connection (CONNACK code).
    case refused(host: String, port: Int, reason: String)
    /// The broker closed the connection before accepting it, which is what a broker that rejects
    /// our client certificate does under TLS 1.3.
    case closedDuringHandshake(host: String, port: Int, reason: String)
    /// No CONNACK arrived in time.
    case connectTimedOut(host: String, port: Int)
    /// The operation needs a connection and there is none.
    case notConnected

    public var description: String {
        switch self {
        case .library(let operation, let code, let reason):
            return "\(operation) failed: \(reason) (libmosquitto error \(code))"
        case .tlsSetup(let reason):
            return "TLS set-up failed: \(reason) — check the CA bundle, certificate and key paths and that the key matches the certificate"
        case .connectFailed(let host, let port, let reason):
            return "could not connect to \(host):\(port): \(reason)"
        case .refused(let host, let port, let reason):
            return "broker \(host):\(port) refused the connection: \(reason)"
        case .closedDuringHandshake(let host, let port, let reason):
            return "broker \(host):\(port) closed the connection before accepting it (\(reason)) — is the client certificate signed by the broker's CA?"
        case .connectTimedOut(let host, let port):
            return "broker \(host):\(port) did not answer the MQTT connect in time"
        case .notConnected:
            return "not connected to a broker"
        }
    }
}
