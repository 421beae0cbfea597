import DXL
import DXLFabric
import Foundation
import TIE
import TIESimulator
import TestSupport
import Testing

/// tiesim as CI infrastructure: whatever ends it — a signal, a kill, a closed stdout — nothing it started
/// survives it, and every signal stops it promptly with an honest exit code.
@Suite("Lifecycles: signals, kills, closed pipes, bad arguments", .timeLimit(.minutes(5)))
struct LifecycleTests {
    @Test("SIGHUP stops up like SIGTERM: exit 0, no mosquitto left")
    func hangUp() async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE"])
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("ready")
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).count == 1)
        tiesim.process.send(SIGHUP)
        #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 0, "\(tiesim.output)")
        #expect(tiesim.output.contains("tiesim: stopped"))
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
    }

    @Test("kill -9 of tiesim takes its mosquitto and its ready marker with it, and the next up on the same directory starts")
    func killedHard() async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", "--no-http"])
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("ready")
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).count == 1)
        tiesim.process.send(SIGKILL)
        _ = try await tiesim.waitForExit(timeout: .seconds(10))
        #expect(await eventually(timeout: .seconds(10)) { CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty },
                "mosquitto outlived a killed tiesim")
        // Nor does its `ready` marker say a dead fabric is up.
        #expect(await eventually(timeout: .seconds(10)) { !FileManager.default.fileExists(atPath: tiesim.stateDirectory + "/ready") },
                "ready outlived a killed tiesim")
        try? FileManager.default.removeItem(atPath: tiesim.outputPath)  // the next run writes the same file
        let again = try TiesimProcess(["up", "--state-dir", tiesim.stateDirectory, "--no-http"], stateDirectory: tiesim.stateDirectory)
        defer { again.process.terminate() }
        try await again.waitForOutput("ready")
        again.process.send(SIGTERM)
        #expect(try await again.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("up --exit-when-done stops at once on SIGTERM while a step waits for a subscriber, with 128 + the signal")
    func signalWhileWaiting() async throws {
        let scenario = NSTemporaryDirectory() + "waiting-\(UUID().uuidString.prefix(8)).yaml"
        try "settings: {subscriberTimeout: 300s}\nfiles:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n".write(toFile: scenario, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scenario) }
        for signal in [SIGTERM, SIGINT] {
            let tiesim = try TiesimProcess(["up", scenario, "--state-dir", "STATE", "--exit-when-done", "--no-http", "--log-level", "info"])
            defer { tiesim.cleanUp() }
            try await tiesim.waitForOutput("waits for a subscriber")
            let clock = ContinuousClock()
            let sent = clock.now
            tiesim.process.send(signal)
            let status = try await tiesim.waitForExit(timeout: .seconds(20))
            #expect(status == 128 + signal, "\(tiesim.output)")
            #expect(clock.now - sent < .seconds(10), "a hang, not a prompt stop")
            #expect(tiesim.output.contains("before the run was done"))
            #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
        }
    }

    @Test("a closed stdout (up | head -1) does not bring tiesim down; SIGTERM still stops it cleanly")
    func closedStandardOutput() async throws {
        let state = NSTemporaryDirectory() + "tiesim-pipe-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        _ = try testCertificates.copy(to: state + "/certs")
        defer {
            try? FileManager.default.removeItem(atPath: state)
            try? FileManager.default.removeItem(atPath: state + ".stderr")
        }
        // A timeline that prints "timeline done" half a second after "ready", when head is gone.
        let scenario = state + "/late.yaml"
        try "settings: {waitForSubscribers: false}\nfiles:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    after: 500ms\n"
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        // bash runs tiesim with its stdout into head, which exits after the first line; stderr to a file.
        let script = "\"\(tiesimExecutable)\" up \"\(scenario)\" --state-dir \"\(state)\" --no-http 2> \"\(state).stderr\" | head -1 > \"\(state)/first\"; echo \"${PIPESTATUS[0]}\" > \"\(state)/status\""
        let shell = try ChildProcess(executable: "/bin/bash", arguments: ["-c", script], outputPath: state + ".err")
        defer { shell.terminate() }
        #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: state + "/ready") })
        #expect(await eventually(timeout: .seconds(10)) { ((try? String(contentsOfFile: state + "/first", encoding: .utf8)) ?? "").contains("ready") })
        // The timeline's line met the closed pipe: said once on stderr, and tiesim runs on.
        #expect(await eventually(timeout: .seconds(20)) {
            ((try? String(contentsOfFile: state + ".stderr", encoding: .utf8)) ?? "").contains("standard output was closed")
        }, "\((try? String(contentsOfFile: state + ".stderr", encoding: .utf8)) ?? "")")
        let pids = try String(contentsOfFile: state + "/tiesim.lock", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(Int32(pids))
        kill(pid, SIGTERM)
        shell.wait()
        let status = (try? String(contentsOfFile: state + "/status", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(status == "0", "tiesim's exit status \(status ?? "?"); stderr: \((try? String(contentsOfFile: state + ".stderr", encoding: .utf8)) ?? "")")
        #expect(CommandLineTests.mosquittoProcesses(using: state).isEmpty)
    }

    @Test("bad numbers in options are refused at once with exit 64, before anything starts",
          arguments: [["--port", "70000"], ["--http-port", "70000"], ["--port", "0"], ["--max-request-rate", "-1"], ["--clients", "../evil"],
                      ["--settle", "1e20"], ["--settle", "inf"], ["--websocket-port", "70000"], ["--management-port", "443"],
                      ["--management-port", "70000", "--management-user", "a", "--management-password", "b"],
                      ["record", "--config", "x", "--out", "y", "--duration", "1e20"], ["record", "--config", "x", "--out", "y", "--count", "0"],
                      ["certs", "--out", "STATE/c", "--port", "70000"], ["certs", "--out", "STATE/c", "--clients", "100000"]])
    func badOptions(arguments: [String]) async throws {
        // Options of `up` unless the arguments name another command.
        let command = ["record", "certs"].contains(arguments[0]) ? arguments : ["up", "--state-dir", "STATE"] + arguments
        let tiesim = try TiesimProcess(command)
        defer { tiesim.cleanUp() }
        #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 64, "\(tiesim.output)")
        #expect(tiesim.output.contains("Error:"))
        #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
    }

    @Test("--clients A B makes both client certificates and configs")
    func severalClients() async throws {
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", "--no-http", "--clients", "alpha", "beta"])
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("ready")
        #expect(FileManager.default.fileExists(atPath: tiesim.stateDirectory + "/dxlclient-beta.config"))
        #expect(FileManager.default.fileExists(atPath: tiesim.stateDirectory + "/certs/beta.crt"))
        tiesim.process.send(SIGTERM)
        #expect(try await tiesim.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("kill -9 of mosquitto while tiesim runs: /health says so, the broker comes back on its port, journaled; clients reconnect")
    func brokerKilled() async throws {
        try await withFabric(paths: ["scenarios/basic-detection.yaml"], configure: { $0.controlHTTPPort = 0 }) { fabric in
            let port = try #require(fabric.http?.port)
            let tie = TieClient(try await fabric.playerClientForTests())
            let brokerPort = fabric.broker.port
            // A broker that is down: /health says so (a broker stopped on purpose is not restarted by the watchdog).
            fabric.broker.stop()
            let down = try await Self.get("http://127.0.0.1:\(port)/health")
            #expect(down.status == 503 && down.body.contains("\"running\": false"), "\(down)")
            try await fabric.broker.restart()
            #expect(try await Self.get("http://127.0.0.1:\(port)/health").status == 200)
            let pid = try #require(fabric.broker.processIdentifier)
            kill(pid, SIGKILL)  // from outside, as a crash or an OOM killer would: not a stop tiesim asked for
            // The watchdog notices, starts it again on its port and journals it.
            #expect(await eventually(timeout: .seconds(20)) { fabric.journal.all.contains { $0.kind == .fault && ($0.note ?? "").contains("broker 1 died") } })
            #expect(fabric.broker.isRunning)
            #expect(fabric.broker.port == brokerPort)
            #expect(try await Self.get("http://127.0.0.1:\(port)/health").status == 200)
            // The client reconnects to the broker that came back and is served.
            var answered = false
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while !answered && clock.now < deadline {
                answered = (try? await tie.getFileReputation(hashes: [.md5: "eb5e2b9dc51817a086d7b97eb52410ab"]))?[FileProvider.gti] != nil
                if !answered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(answered)
        }
    }

    @Test("a busy broker port or HTTP port: exit 3 at once, saying which port")
    func busyPorts() async throws {
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && getsockname(holder, $0, &length) == 0 } }
        listen(holder, 1)
        let busy = String(UInt16(bigEndian: address.sin_port))
        for (option, expected) in [("--port", "port \(busy) on 127.0.0.1 is already in use"), ("--http-port", "the port is in use")] {
            let clock = ContinuousClock()
            let started = clock.now
            let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", option, busy])
            defer { tiesim.cleanUp() }
            #expect(try await tiesim.waitForExit(timeout: .seconds(30)) == 3, "\(tiesim.output)")
            #expect(tiesim.output.contains(expected), "\(tiesim.output)")
            #expect(clock.now - started < .seconds(15), "not at once")
            #expect(CommandLineTests.mosquittoProcesses(using: tiesim.stateDirectory).isEmpty)
        }
    }

    @Test("the HTTP control API refuses web pages (a foreign Origin) and foreign Host names; curl is served")
    func httpOrigin() async throws {
        try await withFabric("files:\n  A.EXE:\n", configure: { $0.controlHTTPPort = 0 }) { fabric in
            let base = "http://127.0.0.1:\(try #require(fabric.http?.port))"
            let plain = try await Self.get(base + "/health")
            #expect(plain.status == 200, "\(plain)")
            #expect(try await Self.get(base + "/journal", headers: ["Origin: http://evil.example"]).status == 403)
            #expect(try await Self.get(base + "/health", headers: ["Host: evil.example"]).status == 403)
            let post = try await Self.get(base + "/reset", headers: ["Origin: https://evil.example", "Content-Type: text/plain"], method: "POST")
            #expect(post.status == 403)
            #expect(try await Self.get(base + "/journal", headers: ["Origin: \(base)"]).status == 200)
        }
    }

    @Test("HTTP limits: a body over 16 MiB is refused with 413 unread; a timeline longer than 15 s plays to the end")
    func httpLimits() async throws {
        try await withFabric("files:\n  A.EXE:\n", configure: { $0.controlHTTPPort = 0 }) { fabric in
            let base = "http://127.0.0.1:\(try #require(fabric.http?.port))"
            let big = NSTemporaryDirectory() + "big-\(UUID().uuidString.prefix(8)).yaml"
            defer { try? FileManager.default.removeItem(atPath: big) }
            #expect(FileManager.default.createFile(atPath: big, contents: Data(repeating: 0x23, count: (16 << 20) + 1)))
            let refused = try await Self.get(base + "/load", headers: ["Content-Type: text/plain"], method: "POST", dataFile: big)
            #expect(refused.status == 413, "\(refused)")
            // A handler runs as long as its command: a 15 s handler timeout once answered 500 and cancelled the timeline.
            let clock = ContinuousClock()
            let started = clock.now
            let played = try await Self.get(base + "/play", method: "POST",
                                            data: "settings: {waitForSubscribers: false}\ntimeline:\n  - detection: {file: A.EXE}\n    after: 16s\n")
            #expect(played.status == 200, "\(played)")
            #expect(played.body.contains("\"sent\": 1"), "\(played)")
            #expect(clock.now - started >= .seconds(16))
        }
    }

    @Test("the journal over DXL comes in pages under the message limit; none is lost and tiesim stays connected", .timeLimit(.minutes(1)))
    func journalPages() async throws {
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            let client = try DXLClient(config: fabric.clientConfig())
            try await client.connect()
            defer { Task { await client.disconnect() } }
            // 30 TIE events of 100 KB: about 3 MB of journal, three times what one message may carry.
            let filler = String(repeating: "x", count: 100_000)
            for index in 0..<30 {
                try client.sendEvent(topic: TieTopic.fileDetection, payload: Array("{\"n\": \(index), \"filler\": \"\(filler)\"}".utf8))
            }
            #expect(await eventually(timeout: .seconds(20)) { fabric.journal.all.filter { $0.kind == .event }.count >= 30 })
            var seen: [Int64] = []
            var since: Double?
            var pages = 0
            while pages < 20 {
                let payload = since.map { "{\"sinceMs\": \($0)}" } ?? ""
                let reply = try await client.request(.request(topic: ControlService.prefix + "journal", payload: payload), timeout: .seconds(10))
                #expect(reply.type == .response, "\(reply.errorMessage ?? "")")
                #expect(reply.payload.count <= 1 << 20)
                let page = try JSONValue.parse(reply.payload)
                seen += (page["entries"]?.arrayValue ?? []).compactMap { $0["payload"]?["n"]?.intValue }
                pages += 1
                guard page["more"] == .bool(true) else { break }
                since = page["nextSinceMs"]?.doubleValue
            }
            #expect(pages >= 3)
            #expect(seen == Array(0..<30))
            #expect(fabric.serviceClient.isConnected)
        }
    }

    @Test("a fabric stopped twice (and then by its harness) releases its state directory once; a new fabric takes it", .timeLimit(.minutes(1)))
    func stopTwice() async throws {
        var directory = ""
        try await withFabric("files:\n  A.EXE:\n") { fabric in
            directory = fabric.options.stateDirectory
            await fabric.stop()
            await fabric.stop()
            #expect(!fabric.broker.isRunning)
        }
        // The lock is free: another fabric starts on the same directory.
        var options = SimulatedFabric.Options(stateDirectory: directory)
        options.clients = ["client"]
        let again = try await SimulatedFabric.start(options)
        await again.stop()
    }

    /// A TCP connection to 127.0.0.1:`port` (blocking, reads time out after `timeout` seconds).
    static func tcpConnect(_ port: Int, timeout: Int = 5) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        if !connected { close(descriptor); return -1 }
        return descriptor
    }

    /// Everything the server sends on `descriptor` until it closes (or the read times out).
    static func readAll(_ descriptor: Int32) -> (text: String, closed: Bool) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { return (String(decoding: data, as: UTF8.self), true) }
            if count < 0 { return (String(decoding: data, as: UTF8.self), false) }
            data += buffer.prefix(count)
        }
    }

    @Test("HTTP clients that idle, trickle a head, or send a 200 KB header are closed or answered at once; others are served meanwhile",
          .timeLimit(.minutes(1)))
    func httpSlowAndIdleClients() async throws {
        try await withFabric("files:\n  A.EXE:\n", configure: { $0.controlHTTPPort = 0; $0.controlHTTPHeadTimeout = .seconds(1) }) { fabric in
            let port = try #require(fabric.http?.port)
            let idle = (0..<50).map { _ in Self.tcpConnect(port) }
            defer { for descriptor in idle { close(descriptor) } }
            #expect(idle.allSatisfy { $0 >= 0 })
            // Served while 50 connections idle.
            #expect(try await Self.get("http://127.0.0.1:\(port)/health").status == 200)
            // A head trickled a byte at a time is cut off at the head timeout, however busy it looks.
            let slow = Self.tcpConnect(port)
            defer { close(slow) }
            let clock = ContinuousClock()
            let started = clock.now
            var cutOff = false
            for byte in Array("GET /health HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 100) {
                var value = byte
                if send(slow, &value, 1, Int32(MSG_NOSIGNAL)) != 1 { cutOff = true; break }
                try await Task.sleep(for: .milliseconds(100))
                if clock.now - started > .seconds(5) { break }
            }
            let trickled = Self.readAll(slow)
            #expect(cutOff || trickled.closed, "a trickling client kept its connection")
            #expect(clock.now - started < .seconds(5))
            // Every idle connection was closed by the server without an answer.
            for descriptor in idle {
                let result = Self.readAll(descriptor)
                #expect(result.closed && result.text.isEmpty, "\(result)")
            }
            // A 200 KB header: 431 at once, not quadratic time.
            let large = Self.tcpConnect(port)
            defer { close(large) }
            let request = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nX-Big: ".utf8) + [UInt8](repeating: 0x62, count: 200_000) + Array("\r\n\r\n".utf8)
            let largeStart = clock.now
            _ = request.withUnsafeBytes { send(large, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            let answer = Self.readAll(large)
            #expect(answer.text.hasPrefix("HTTP/1.1 431 "), "\(answer.text.prefix(200))")
            #expect(clock.now - largeStart < .seconds(2))
            // Unknown paths and methods get a JSON error; the server still serves.
            #expect(try await Self.get("http://127.0.0.1:\(port)/nope").status == 404)
            #expect(try await Self.get("http://127.0.0.1:\(port)/play").status == 405)
            #expect(try await Self.get("http://127.0.0.1:\(port)/health").status == 200)
        }
    }

    @Test("out of file descriptors, the HTTP listener pauses and then serves again", .timeLimit(.minutes(1)))
    func httpDescriptorExhaustion() async throws {
        let httpPort = LocalBroker.freePort()
        let tiesim = try TiesimProcess(["up", "--state-dir", "STATE", "--http-port", String(httpPort), "--no-websockets"], fileLimit: 100)
        defer { tiesim.cleanUp() }
        try await tiesim.waitForOutput("tiesim ready")
        // Far more connections than tiesim has descriptors left: accept fails with EMFILE for a while.
        let flood = (0..<150).map { _ in Self.tcpConnect(httpPort, timeout: 1) }
        try await tiesim.waitForOutput("out of file descriptors", timeout: .seconds(20))
        for descriptor in flood where descriptor >= 0 { close(descriptor) }
        // The listener is still there once descriptors are free again.
        let healthy = try await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
            try await Self.get("http://127.0.0.1:\(httpPort)/health").status == 200
        }
        #expect(healthy, "\(tiesim.output)")
        #expect(tiesim.process.isRunning)
    }

    /// curl's status for `url`.
    static func get(_ url: String, headers: [String] = [], method: String = "GET", data: String? = nil, dataFile: String? = nil) async throws -> (status: Int, body: String) {
        let output = NSTemporaryDirectory() + "curl-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: output); try? FileManager.default.removeItem(atPath: output + ".body") }
        var arguments = ["-s", "-m", "60", "-X", method, "-o", output + ".body", "-w", "%{http_code}"] + headers.flatMap { ["-H", $0] }
        if let data { arguments += ["--data-binary", data] }
        if let dataFile { arguments += ["--data-binary", "@" + dataFile] }
        let process = try ChildProcess(executable: "/usr/bin/curl", arguments: arguments + [url], outputPath: output)
        // Waited for without blocking a thread: the HTTP server under test runs on the same task pool.
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        return (Int((try? String(contentsOfFile: output, encoding: .utf8)) ?? "") ?? 0, (try? String(contentsOfFile: output + ".body", encoding: .utf8)) ?? "")
    }
}
