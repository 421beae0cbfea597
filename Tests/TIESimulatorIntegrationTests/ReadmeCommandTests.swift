import DXL
import DXLFabric
import Foundation
import TestSupport
import Testing
import Yams

/// Every command in README.md runs here, so the guide cannot go stale: each `sh` block as a bash script in a
/// scratch folder (with the repository's scenarios, examples, scripts and docker folders), the CI examples'
/// steps as their runners would run them, and the top block's two commands as a user would. `swift run
/// tiesim ARGS` stands for the tiesim this test command built; the ports 8080 and 8883 are replaced by free
/// ones. Docker commands are checked, not run (no Docker engine on these machines).
@Suite("README commands", .serialized, .timeLimit(.minutes(5)))
struct ReadmeCommandTests {
    struct Block {
        let language: String
        let text: String
        let line: Int
    }

    static let readme: String = (try? String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""

    /// The fenced code blocks of `markdown`, with the line each starts on.
    static func blocks(_ markdown: String) -> [Block] {
        var blocks: [Block] = []
        var current: (language: String, lines: [String], line: Int)?
        for (number, line) in markdown.components(separatedBy: "\n").enumerated() {
            if line.hasPrefix("```") {
                if let open = current {
                    blocks.append(Block(language: open.language, text: open.lines.joined(separator: "\n"), line: open.line))
                    current = nil
                } else {
                    current = (String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces), [], number + 2)
                }
            } else {
                current?.lines.append(line)
            }
        }
        return blocks
    }

    static var shellBlocks: [Block] { blocks(readme).filter { $0.language == "sh" } }

    /// A scratch folder that looks like a checkout, and a `swift` that runs the tiesim under test.
    final class Sandbox {
        let folder: String
        /// The folder with the `swift` shim (checked in next to this file).
        let bin = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("shims").path

        init() throws {
            folder = NSTemporaryDirectory() + "tiesim-readme-\(getpid())-\(UUID().uuidString.prefix(8))"
            let files = FileManager.default
            try files.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for entry in ["scenarios", "examples", "scripts", "docker", "python"] {
                try files.createSymbolicLink(atPath: folder + "/" + entry, withDestinationPath: repositoryRoot.appendingPathComponent(entry).path)
            }
        }

        var environment: [String: String] {
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
            environment["TIESIM_UNDER_TEST"] = tiesimExecutable
            environment["PYTHONUNBUFFERED"] = "1"
            return environment
        }

        /// Starts `script` with bash in the folder (its own process group); output goes to a file.
        func start(_ script: String, name: String) throws -> (ChildProcess, String) {
            let output = folder + "/\(name).out"
            // Whatever a block leaves running in the background is stopped when it ends; its exit status stays.
            let prelude = "cd '\(folder)'\ntrap 'rc=$?; for job in $(jobs -p); do kill $job 2>/dev/null; done; wait 2>/dev/null; exit $rc' EXIT\n"
            let process = try ChildProcess(executable: "/bin/bash", arguments: ["-e", "-c", prelude + script], outputPath: output,
                                           environment: environment)
            return (process, output)
        }

        /// Runs `script` to its end (at most `timeout`); returns its exit status and output.
        func run(_ script: String, name: String, timeout: Duration = .seconds(180)) async throws -> (status: Int32, output: String) {
            let (process, output) = try start(script, name: name)
            if await !eventually(timeout: timeout, interval: .milliseconds(50), { !process.isRunning }) {
                kill(-process.pid, SIGKILL)
                process.wait()
                let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                throw PeerError(description: "\(name) did not finish within \(timeout); output:\n\(text)")
            }
            return (process.terminationStatus ?? -1, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
        }

        deinit {
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// `text` with the example ports 8080, 8443 and 8883 replaced by free ones.
    static func withFreePorts(_ text: String) -> String {
        text.replacingOccurrences(of: "8080", with: String(LocalBroker.freePort()))
            .replacingOccurrences(of: "8443", with: String(LocalBroker.freePort()))
            .replacingOccurrences(of: "8883", with: String(LocalBroker.freePort()))
    }

    /// The `# file.yaml:L:C: …` lines of a block: output the block says its commands print.
    static func promisedOutput(_ block: String) -> [String] {
        block.components(separatedBy: "\n").filter { line in
            line.hasPrefix("# ") && line.range(of: #"^# \S+\.yaml:\d+:\d+: "#, options: .regularExpression) != nil
        }.map { String($0.dropFirst(2)) }
    }

    @Test("the top block: setup and the main job bring up a fabric that plays the seed; the test command is what CI runs")
    func topBlock() async throws {
        let top = try #require(Self.shellBlocks.first)
        let commands = top.text.components(separatedBy: "\n").filter { !$0.isEmpty && !$0.hasPrefix("#") }
        #expect(commands == ["scripts/setup.sh && swift run tiesim up scenarios/basic-detection.yaml", "scripts/test.sh"])
        let ci = try String(contentsOf: repositoryRoot.appendingPathComponent(".ci/run"), encoding: .utf8)
        #expect(ci.components(separatedBy: "\n").filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("set ") && !$0.hasPrefix("cd ") } == ["scripts/test.sh"])

        let sandbox = try Sandbox()
        let (main, output) = try sandbox.start(commands[0], name: "main-job")
        defer { kill(-main.pid, SIGKILL); main.wait() }
        let ready = sandbox.folder + "/.tiesim/ready"
        await eventually(timeout: .seconds(120)) { FileManager.default.fileExists(atPath: ready) || !main.isRunning }
        let log = { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        try #require(FileManager.default.fileExists(atPath: ready), "no ready marker; output:\n\(log())")
        #expect(log().contains("setup: ok"))

        // The ini block is what tiesim wrote, but for the ports (TLS, then WebSockets).
        let written = try String(contentsOfFile: sandbox.folder + "/.tiesim/dxlclient.config", encoding: .utf8)
        let ini = try #require(Self.blocks(Self.readme).first { $0.language == "ini" })
        let port = try #require(written.firstMatch(of: /\[Brokers\]\nlocal=local;(\d+);/)?.1)
        let webSocketPort = try #require(written.firstMatch(of: /\[BrokersWebSockets\]\nlocal=local;(\d+);/)?.1)
        #expect(written.replacingOccurrences(of: ";\(port);", with: ";40123;").replacingOccurrences(of: ";\(webSocketPort);", with: ";40124;")
                .trimmingCharacters(in: .whitespacesAndNewlines)
                == ini.text.trimmingCharacters(in: .whitespacesAndNewlines))

        let listener = try await sandbox.run("python3 examples/detection_listener.py .tiesim/dxlclient.config --count 1 --timeout 60", name: "listener")
        #expect(listener.status == 0, "\(listener.output)")
        #expect(listener.output.contains("\"name\": \"FOCUS_MALWARE2.EXE\""), "\(listener.output)")
        #expect(listener.output.contains("\"agentGuid\": \"{68125cd6-a5d8-11e6-348e-000c29663178}\""))

        kill(-main.pid, SIGINT)  // Ctrl-C
        await eventually(timeout: .seconds(20)) { !main.isRunning }
        #expect(!main.isRunning, "Ctrl-C did not stop tiesim")
        #expect(log().contains("tiesim: stopped"), "\(log())")
        #expect(!FileManager.default.fileExists(atPath: ready))
    }

    @Test("every other shell block runs to the end with exit code 0 and prints what it promises")
    func shellBlocks() async throws {
        let blocks = Self.shellBlocks.dropFirst().filter { !$0.text.contains("docker ") }
        #expect(blocks.count >= 6)
        for block in blocks {
            let sandbox = try Sandbox()
            let result = try await sandbox.run(Self.withFreePorts(block.text), name: "block-\(block.line)")
            #expect(result.status == 0, "README.md:\(block.line): exit \(result.status); output:\n\(result.output)")
            for promised in Self.promisedOutput(block.text) {
                #expect(result.output.contains(promised), "README.md:\(block.line) promises '\(promised)'; output:\n\(result.output)")
            }
        }
    }

    @Test("the GitHub Actions example's steps pass, as the runner runs them (each run: its own bash -e)")
    func githubActionsExample() async throws {
        let block = try #require(Self.blocks(Self.readme).first { $0.language == "yaml" && $0.text.contains("jobs:") })
        let workflow = try #require(try Yams.load(yaml: block.text) as? [String: Any])
        let jobs = try #require(workflow["jobs"] as? [String: Any])
        let job = try #require(jobs.values.first as? [String: Any])
        let steps = try #require(job["steps"] as? [[String: Any]])
        let sandbox = try Sandbox()
        var ran = 0
        for step in steps {
            if let action = step["uses"] as? String {
                #expect(action.hasPrefix("actions/checkout@") || action.hasPrefix("actions/upload-artifact@"), "unexpected action \(action)")
                continue
            }
            let script = try #require(step["run"] as? String)
            let result = try await sandbox.run(script, name: "actions-\(ran)")
            #expect(result.status == 0, "step \(script): exit \(result.status); output:\n\(result.output)")
            ran += 1
        }
        #expect(ran == 2)
        let junit = try String(contentsOfFile: sandbox.folder + "/reports/tiesim.xml", encoding: .utf8)
        #expect(junit.contains("failures=\"0\""), "\(junit)")
        #expect(FileManager.default.fileExists(atPath: sandbox.folder + "/reports/tiesim.html"))
    }

    @Test("the GitLab CI example's script passes, as the runner runs it (one shell)")
    func gitlabExample() async throws {
        let block = try #require(Self.blocks(Self.readme).first { $0.language == "yaml" && $0.text.contains("script:") })
        let pipeline = try #require(try Yams.load(yaml: block.text) as? [String: Any])
        let job = try #require(pipeline.values.first as? [String: Any])
        let script = try #require(job["script"] as? [String])
        let sandbox = try Sandbox()
        let result = try await sandbox.run(script.joined(separator: "\n"), name: "gitlab")
        #expect(result.status == 0, "output:\n\(result.output)")
        let artifacts = try #require(job["artifacts"] as? [String: Any])
        let junitPath = try #require((artifacts["reports"] as? [String: Any])?["junit"] as? String)
        #expect(FileManager.default.fileExists(atPath: sandbox.folder + "/" + junitPath))
        #expect(FileManager.default.fileExists(atPath: sandbox.folder + "/reports/journal.jsonl"))
    }

    @Test("the Python fragments are quoted word for word from the examples they name")
    func pythonFragments() throws {
        let fragments = Self.blocks(Self.readme).filter { $0.language == "python" }
        #expect(fragments.count >= 2)
        let examples = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("examples").path)
            .filter { $0.hasSuffix(".py") }
            .map { try String(contentsOf: repositoryRoot.appendingPathComponent("examples/\($0)"), encoding: .utf8) }
        for fragment in fragments {
            #expect(examples.contains { $0.contains(fragment.text) }, "README.md:\(fragment.line) is not in any examples/*.py")
        }
    }

    @Test("the Docker commands name files that exist, and the image runs what the tests run")
    func dockerCommands() throws {
        let block = try #require(Self.shellBlocks.first { $0.text.contains("docker ") })
        let root = repositoryRoot.path
        for command in block.text.components(separatedBy: "\n") where command.hasPrefix("docker ") {
            let words = command.split(separator: " ").map(String.init)
            if let file = words.firstIndex(of: "-f").map({ words[$0 + 1] }) {
                #expect(FileManager.default.fileExists(atPath: root + "/" + file), "\(command): no \(file)")
            }
        }
        let dockerfile = try String(contentsOfFile: root + "/docker/Dockerfile", encoding: .utf8)
        for line in dockerfile.components(separatedBy: "\n") where line.hasPrefix("COPY ") && !line.contains("--from=") {
            let source = line.split(separator: " ")[1]
            #expect(FileManager.default.fileExists(atPath: root + "/" + source), "Dockerfile copies \(source), which does not exist")
        }
        let runs = dockerfile.components(separatedBy: "\n").filter { $0.hasPrefix("RUN ") }
        #expect(runs.contains { $0.contains("bash scripts/setup.sh &&") }, "the build stage must run scripts/setup.sh as CI does")
        #expect(runs.contains { $0.contains("setup.sh --runtime") })
        #expect(dockerfile.contains("ENTRYPOINT [\"tiesim-entrypoint\"]") && dockerfile.contains("COPY docker/entrypoint.sh /usr/local/bin/tiesim-entrypoint"))

        let compose = try #require(try Yams.load(yaml: String(contentsOfFile: root + "/docker/compose.yaml", encoding: .utf8)) as? [String: Any])
        let services = try #require(compose["services"] as? [String: Any])
        for case let (name, service as [String: Any]) in services {
            for case let volume as String in service["volumes"] as? [Any] ?? [] {
                let source = String(volume.split(separator: ":")[0])
                guard source.hasPrefix("..") else { continue }
                #expect(FileManager.default.fileExists(atPath: root + "/docker/" + source), "\(name) mounts \(source), which does not exist")
            }
        }
        let build = try #require((services["tiesim"] as? [String: Any])?["build"] as? [String: Any])
        #expect(build["dockerfile"] as? String == "docker/Dockerfile")
    }
}
