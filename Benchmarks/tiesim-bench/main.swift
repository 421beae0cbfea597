// tiesim-bench: the simulator's performance figures, each beside the baseline its issue names,
// measured in the same run.
//
//   swift run -c release tiesim-bench [player|parse|requests|store|callbacks|plugin|websockets|detections|flood|all] [--events N] [--seconds S] [--rounds R] [--same-brokers]
//
// player   — a timeline of 1,000,000 detection events vs raw libmosquitto publishing the same bytes
//            (goal ≥ 90 %), and peak RSS after 10 k and after 1 M events (goal: flat).
// parse    — parse and validate a generated 10 MB scenario file (goal < 1 s).
// requests — get_file_reputation throughput and p50/p99 latency with 1, 8 and 64 concurrent requesters
//            (--concurrency), fake TIE vs the bare-libmosquitto ceiling (goal ≥ 95 %), a canned DXLClient
//            service and a Python dxlclient service answering from the same data, same load generator;
//            p99 at a paced 1,000 requests/s (goal < 2 ms); the fake TIE's own work per request.
// callbacks — detection events/s delivered to a Swift TieClient callback (dictionary built), beside the
//            Python dxltieclient DetectionCallback and a raw libmosquitto subscriber, same stream
//            (goals ≥ 10× Python, ≥ 80 % of raw). The stream batches packets into TLS records;
//            `callbacks libmosquitto` publishes it through bare libmosquitto instead.
// detections — the callback path's own cost without a broker: DXL decode, JSON parse, Detection and
//            Python's dictionary built, per event (not part of "all").
// store    — load time of 1,000,000 files and lookup time at 1 k, 100 k and 1 M files (goal: flat).
// plugin   — events through a broker with the DXL broker plugin vs the same broker without it (raw and
//            player streams, goal ≥ 95 %; also mosquitto's CPU per event), the plugin's cost per routed request, and the no-destination
//            error's p99 at a paced 1,000 requests/s (goal < 1 ms).
// flood    — one requester floods the fake TIE (--rate 10000 --seconds 30; --vary-reply-to) while a probe
//            sends 100 req/s: the probe's latency idle and under the flood (goal within 5×), RSS (bounded).
//            Not part of "all".
// websockets — the same event stream over a broker's TLS listener and its WebSocket listener (goal ≥ 50 %).
// Each mode lives in a file of its own (PlayerBench.swift, RequestsBench.swift, …).
import CMosquitto
import DXL
import DXLFabric
import Foundation
import Logging
import Synchronization
import TIE
import TIESimulator
import Yams

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

let arguments = CommandLine.arguments
let mode = arguments.count > 1 && !arguments[1].hasPrefix("--") ? arguments[1] : "all"
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
/// `--name a,b,c`: the comma-separated values after `name`, or nil when it is not given.
func optionList(_ name: String) -> [String]? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1].split(separator: ",").map(String.init)
}
let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// `values[i]` as a percentage of `bases[i]`, round by round.
func percentages(_ values: [Double], of bases: [Double]) -> [Double] { zip(values, bases).map { 100 * $0 / $1 } }

/// "rounds min–max %": how far apart the rounds' `ratios` (percentages) landed.
func roundsRange(_ ratios: [Double]) -> String { "rounds \(format(ratios.min()!, digits: 1))–\(format(ratios.max()!, digits: 1)) %" }

func format(_ value: Double, digits: Int = 0) -> String {
    // Rounded first, so that a carry reaches the whole part (99.96 is "100.0", not "99.0").
    let scale = pow(10, Double(digits))
    let rounded = (value * scale).rounded() / scale
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = 0
    // Foundation on Linux ignores fraction digits for decimal style: the fraction is written by hand.
    let whole = formatter.string(from: NSNumber(value: rounded.rounded(.towardZero))) ?? String(rounded)
    guard digits > 0 else { return whole }
    let fraction = String(format: "%.\(digits)f", abs(rounded).truncatingRemainder(dividingBy: 1))
    return whole + fraction.dropFirst(1)
}

/// The middle value (the upper one of the two middles for an even count).
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// The CPU time process `pid` has used so far, in seconds (10 ms resolution): in user mode and in the kernel.
func cpuTimes(pid: Int32) -> (user: Double, system: Double) {
    // /proc/PID/stat: the command name (in parentheses, may hold spaces), then fields; utime and stime
    // are the 12th and 13th after it.
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return (0, 0) }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return (0, 0) }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (user / ticks, system / ticks)
}

/// The time the main thread of process `pid` has spent on a CPU so far, in seconds, to the nanosecond
/// (`/proc/PID/schedstat`; `/proc/PID/stat` counts in clock ticks of 10 ms).
func runSeconds(pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/schedstat", encoding: .utf8),
          let first = text.split(separator: " ").first, let nanoseconds = Double(first) else { return 0 }
    return nanoseconds / 1e9
}

/// glibc's `sched_setaffinity`, which its Swift module leaves out (it is a GNU extension).
@_silgen_name("sched_setaffinity")
func setAffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeRawPointer) -> Int32

/// Runs `pids` on the last CPU and every thread of this process on the others (when there are at least
/// two): a broker's one thread then has a core to itself instead of taking turns with the publisher and
/// subscriber it is measured with, which on a small machine swings a round by ±10 %. Returns whether it
/// could.
@discardableResult
func pinToLastCPU(_ pids: [Int32]) -> Bool {
    let count = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    guard count >= 2, count <= 64 else { return false }
    func set(_ pid: Int32, _ mask: UInt64) -> Bool {
        var cpus = [UInt64](repeating: 0, count: 16)  // glibc's cpu_set_t: 1,024 bits
        cpus[0] = mask
        return cpus.withUnsafeBytes { setAffinity(pid, $0.count, $0.baseAddress!) } == 0
    }
    let last: UInt64 = 1 << UInt64(count - 1)
    var pinned = pids.allSatisfy { set($0, last) }
    // This process's threads (those made later inherit the mask of the one that makes them).
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    for task in tasks.compactMap({ Int32($0) }) { pinned = set(task, last - 1) && pinned }
    return pinned
}

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

let workFolder = NSTemporaryDirectory() + "tiesim-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: workFolder) }

if mode == "player" || mode == "all" { try await benchPlayer() }
if mode == "parse" || mode == "all" { try benchParse() }
if mode == "requests" || mode == "all" { try await benchRequests() }
if mode == "store" || mode == "all" { benchStore() }
if mode == "callbacks" || mode == "all" { try await benchCallbacks() }
if mode == "flood" { try await benchFlood() }
if mode == "plugin" || mode == "all" { try await benchPlugin() }
if mode == "websockets" || mode == "all" { try await benchWebSockets() }
if mode == "detections" { try benchDetections() }
if mode == "flood-client" { try await floodClient() }
