import DXL
import DXLBroker
import Foundation
import Logging

// What a broker needs from this machine: the mosquitto binary, the plugin, free ports, the user.
extension LocalBroker {
    /// Finds the `mosquitto` binary: `$TIESIM_MOSQUITTO`, then `PATH`, then Debian's `/usr/sbin`.
    public static func mosquittoPath() throws(BrokerError) -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["TIESIM_MOSQUITTO"] { candidates.append(explicit) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        candidates += path.split(separator: ":").map { "\($0)/mosquitto" }
        candidates += ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw .mosquittoNotFound(searched: candidates)
    }

    /// Finds the DXL broker plugin: `$TIESIM_BROKER_PLUGIN`, then next to the running executable (where
    /// `swift build` puts it beside `tiesim`, the test bundles and the benchmarks), then `/usr/local/lib`.
    public static func pluginPath() throws(BrokerError) -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["TIESIM_BROKER_PLUGIN"] { candidates.append(explicit) }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(executable.appendingPathComponent("libtiesim-broker.so").path)
        if let main = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            candidates.append(main.appendingPathComponent("libtiesim-broker.so").path)
        }
        candidates += ["/usr/local/lib/libtiesim-broker.so", "/usr/lib/tiesim/libtiesim-broker.so"]
        if let found = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) { return found }
        throw .pluginNotFound(searched: candidates)
    }



    static func currentUserName() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }

    /// A port that was free a moment ago on 127.0.0.1, and that this process has not handed out before
    /// (see `Sockets.freePort`).
    public static func freePort() -> Int { Sockets.freePort() }

    /// Whether something accepts TCP connections on `host:port`.
    public static func acceptsConnections(host: String, port: Int) -> Bool {
        guard let descriptor = try? Sockets.connect(host: host, port: port) else { return false }
        close(descriptor)
        return true
    }
}
