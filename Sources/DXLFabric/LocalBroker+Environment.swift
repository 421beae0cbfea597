import DXL
import DXLBroker
import Foundation
import Logging
import Synchronization

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

    /// Ports this process has handed out: never handed out twice, so a broker that is down for a while
    /// (and whose clients will reconnect to its port) cannot lose its port to another broker started here.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port that was free a moment ago on 127.0.0.1, and that this process has not handed out before.
    public static func freePort() -> Int {
        for _ in 0..<100 {
            let port = kernelFreePort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        return kernelFreePort()
    }

    private static func kernelFreePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return 18_883 }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { return 18_883 }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on `host:port`.
    public static func acceptsConnections(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
