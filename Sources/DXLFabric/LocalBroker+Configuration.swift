import DXL
import DXLBroker
import Foundation
import Logging
import Synchronization

// The mosquitto.conf tiesim writes: the mutual-TLS listener, the plugin, the internal listener, bridges.
extension LocalBroker {
    /// The mosquitto configuration for `port`, loading the plugin at `plugin` (nil: none).
    public func configuration(port: Int, plugin: String? = nil) -> String {
        var lines = [
            "# Written by tiesim: a DXL-like mutual-TLS listener for tests.",
            "per_listener_settings false",
            "allow_anonymous false",
            "persistence false",
            "user \(Self.currentUserName())",
            "max_queued_messages \(options.maxQueuedMessages)",
            "max_queued_bytes 0",
            "max_inflight_messages 0",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if options.logSubscriptions { lines += ["log_type subscribe", "log_type unsubscribe"] }
        lines += [
            "",
            "listener \(port) \(options.host)",
            "cafile \(certificates.caCertificate)",
            "certfile \(certificates.brokerCertificate)",
            "keyfile \(certificates.brokerKey)",
            "require_certificate true",
        ]
        let internalPort = state.withLock { $0.internalPort }
        if plugin != nil && options.webSockets && internalPort > 0 {
            // Plain MQTT on loopback for the WebSocket listener, which checked the client's certificate;
            // the plugin refuses every connection here that lacks the secret.
            lines += ["", "listener \(internalPort) 127.0.0.1"]
        }
        if let plugin {
            // The plugin reads each client's identity from its certificate itself (mosquitto skips the
            // plugin's connect check when it takes the identity as user name).
            lines += ["plugin \(plugin)", "plugin_opt_fabric \(layoutPath)"]
            if options.maxPacketSize > 0 { lines.append("plugin_opt_max_message_size \(options.maxPacketSize)") }
            if options.webSockets { lines.append("plugin_opt_proxy_secret \(proxySecret)") }
        } else {
            lines.append("use_identity_as_username true")
        }
        if options.maxPacketSize > 0 {
            // With the plugin, mosquitto accepts 64 KiB more than the fabric's limit, which the plugin keeps:
            // what a broker adds to a message (its stamp) must not make the next broker refuse it.
            lines.append("max_packet_size \(options.maxPacketSize + (plugin == nil ? 0 : 65_536))")
        }
        lines += options.extraConfiguration
        // Bridge sections last: every line after `connection` belongs to that bridge.
        for bridge in options.bridges {
            lines += [
                "",
                "connection \(bridge.name)",
                "address \(bridge.host):\(bridge.port)",
                "remote_clientid \(bridge.name)",
                "local_clientid \(bridge.name).local",
                "cleansession true",
                "try_private true",
                "bridge_protocol_version mqttv311",
                "topic # both 0",
                "bridge_cafile \(certificates.caCertificate)",
                "bridge_certfile \(certificates.brokerCertificate)",
                "bridge_keyfile \(certificates.brokerKey)",
                // Like DXL clients, bridges check the remote's chain, not its host name (the broker
                // certificate names localhost and 127.0.0.1 only; --host may be any address).
                "bridge_insecure true",
                "start_type automatic",
                "restart_timeout 1 2",
                "keepalive_interval 5",
                "notifications false",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
