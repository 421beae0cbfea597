import DXLBroker
import DXLFabric
import Foundation

// What a fabric is started with, and why a start fails.
extension SimulatedFabric {
    /// How the fabric is set up.
    public struct Options: Sendable {
        /// Where certificates, the broker's files and `dxlclient.config` go (reused across runs).
        public var stateDirectory: String
        /// Broker 1's port; nil picks a free one (further brokers always pick free ports).
        public var port: Int?
        /// How many mosquitto brokers, joined by bridges (nil: the scenarios' `fabric:`, else 1).
        public var brokers: Int?
        /// How the brokers are bridged (nil: the scenarios' `fabric:`, else a hub).
        public var topology: BrokerNetwork.Topology?
        /// The host name written into the client configurations (nil: `host`); for clients that reach the
        /// broker another way, e.g. from outside a container.
        public var advertisedHost: String?
        /// The IP address written after the host name (clients try it when the name does not resolve);
        /// nil: the advertised host again.
        public var advertisedAddress: String?
        /// The address the HTTP control API listens on.
        public var controlHTTPHost: String = "127.0.0.1"
        /// The address the broker listens on.
        public var host: String = "127.0.0.1"
        /// What TIE knows and plays.
        public var scenarios: [Scenario] = []
        /// Client certificates to make; `dxlclient.config` uses the first.
        public var clients: [String] = ["client"]
        /// mosquitto's per-client queue limit (0: none).
        public var maxQueuedMessages: Int = 0
        /// Whether the fake TIE runs (false: the broker services only, for suites that bring their own
        /// TIE service).
        public var runsTie: Bool = true
        /// Topic authorisation, enforced by the brokers (with `authorizedSetters` added to it).
        public var authorization = TopicAuthorization()
        /// The port of the HTTP control API on 127.0.0.1: nil for none, 0 for a free port.
        public var controlHTTPPort: Int? = nil
        /// How long an HTTP client may take to send a request head before it is disconnected.
        public var controlHTTPHeadTimeout: Duration = .seconds(10)
        /// The client certificates that may drive the fabric over DXL (`/tiesim/control/…`: load, play,
        /// verify, reset); nil: the first of `clients`, whose config `dxlclient.config` is.
        public var controllers: [String]? = nil
        /// When set, only these client certificates (by name, from `clients`) and tiesim may change
        /// reputations — set-reputation requests and external reports; the brokers drop other clients'
        /// (a case of `authorization`).
        public var authorizedSetters: [String]? = nil
        /// Whether TIE events on the fabric are journaled (a subscription that copies each to tiesim).
        public var journalEvents: Bool = true
        /// The most TIE requests per second the fake TIE serves one requester (0: no limit); more are shed
        /// unanswered, as by an overloaded server, so that a flooding client cannot slow the others down.
        /// 2,000/s by default: above what one real client asks, below what saturates a small machine.
        public var requestRateLimitPerClient: Double = 2_000
        /// The largest message the broker accepts (the DXL broker's limit, 1 MiB, by default).
        public var maxMessageSize: Int = 1 << 20
        /// Whether every broker also takes MQTT over WebSockets (listed under `[BrokersWebSockets]`, and
        /// in `dxlclient-websockets.config`, which sets `UseWebSockets=true`).
        public var webSockets: Bool = true
        /// Broker 1's WebSocket port; nil picks a free one.
        public var webSocketPort: Int?
        /// The client provisioning service (`dxlclient provisionconfig` / `updateconfig`), when set.
        public var management: Management?
        public init(stateDirectory: String) { self.stateDirectory = stateDirectory }
    }

    /// The management service clients are provisioned from, as ePO's: HTTPS on `host:port` (0: a free
    /// port) with basic authentication by `user` and `password`.
    public struct Management: Sendable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String
        public init(host: String = "127.0.0.1", port: Int = 0, user: String, password: String) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
        }
    }

    /// Why the fabric could not start.
    public enum StartError: Error, CustomStringConvertible {
        case alreadyRunning(stateDirectory: String, pid: String)
        case failed(String)
        public var description: String {
            switch self {
            case .alreadyRunning(let directory, let pid):
                return "another tiesim (pid \(pid)) is using the state directory \(directory) — stop it, or pass a different --state-dir"
            case .failed(let reason):
                return reason
            }
        }
    }
}
