import DXL
import DXLFabric
import Foundation
import TestSupport
import Testing

/// What the Docker image runs, run outside Docker (no engine on these machines): `docker/entrypoint.sh`
/// starting `tiesim up` with the container's settings, the advertised address in the client configuration,
/// the `ready` marker the health check reads, the example application of `docker/compose.yaml`, and
/// `docker stop` (SIGTERM) stopping everything.
@Suite("The Docker image's entry point, outside Docker", .timeLimit(.minutes(5)))
struct DockerEntrypointTests {
    @Test("entrypoint.sh serves the mounted scenario; a client falls back from the container name to the advertised IP")
    func entrypointServesTheExampleApplication() async throws {
        let sandbox = try ReadmeCommandTests.Sandbox()
        let port = LocalBroker.freePort(), httpPort = LocalBroker.freePort(), webSocketPort = LocalBroker.freePort()
        let managementPort = LocalBroker.freePort()
        // The container's defaults but for the paths and ports: the state volume is a scratch folder, and the
        // broker listens on 127.0.0.1 (the tests use loopback only; the image listens on 0.0.0.0).
        let settings = [
            "TIESIM_BIN=\(tiesimExecutable)", "TIESIM_STATE_DIR=\(sandbox.folder)/fabric", "TIESIM_HOST=127.0.0.1",
            "TIESIM_PORT=\(port)", "TIESIM_HTTP_PORT=\(httpPort)", "TIESIM_ADVERTISE_HOST=tiesim.invalid",
            "TIESIM_WEBSOCKET_PORT=\(webSocketPort)", "TIESIM_MANAGEMENT_PORT=\(managementPort)", "TIESIM_MANAGEMENT_USER=admin",
            "TIESIM_MANAGEMENT_PASSWORD=s3cret",
        ]
        let (entrypoint, output) = try sandbox.start("exec env \(settings.joined(separator: " ")) sh docker/entrypoint.sh scenarios/basic-detection.yaml",
                                                     name: "entrypoint")
        defer { kill(-entrypoint.pid, SIGKILL); entrypoint.wait() }
        let log = { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        let ready = sandbox.folder + "/fabric/ready"
        await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: ready) || !entrypoint.isRunning }
        try #require(FileManager.default.fileExists(atPath: ready), "no ready marker; output:\n\(log())")
        let config = try String(contentsOfFile: sandbox.folder + "/fabric/dxlclient.config", encoding: .utf8)
        #expect(config.contains("local=local;\(port);tiesim.invalid;127.0.0.1"), "\(config)")
        #expect(config.contains("[BrokersWebSockets]\nlocal=local;\(webSocketPort);tiesim.invalid;127.0.0.1"), "\(config)")
        let readyLine = try String(contentsOfFile: ready, encoding: .utf8)
        #expect(readyLine.contains("control API http://127.0.0.1:\(httpPort)"))
        #expect(readyLine.contains("provisioning https://tiesim.invalid:\(managementPort)"), "\(readyLine)")

        // The compose file's example application, as its container runs it.
        let app = try await sandbox.run("python3 examples/detection_listener.py fabric/dxlclient.config --count 1 --timeout 60", name: "app")
        #expect(app.status == 0, "\(app.output)")
        #expect(app.output.contains("\"name\": \"FOCUS_MALWARE2.EXE\""), "\(app.output)")

        // docker stop: SIGTERM to the entry point, which is tiesim itself (exec).
        let ownerPid = try #require(Int32(try String(contentsOfFile: sandbox.folder + "/fabric/tiesim.lock", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(ownerPid == entrypoint.pid, "the entry point must exec tiesim so that docker stop reaches it")
        kill(entrypoint.pid, SIGTERM)
        await eventually(timeout: .seconds(20)) { !entrypoint.isRunning }
        #expect(!entrypoint.isRunning)
        #expect(entrypoint.terminationStatus == 0, "\(log())")
        #expect(!FileManager.default.fileExists(atPath: ready))
        #expect(!LocalBroker.acceptsConnections(host: "127.0.0.1", port: port), "mosquitto still listening after docker stop")
    }

    @Test("scripts/setup.sh --runtime (the runtime stage's install step) succeeds and installs no build tools")
    func runtimeSetup() async throws {
        let sandbox = try ReadmeCommandTests.Sandbox()
        let result = try await sandbox.run("bash scripts/setup.sh --runtime", name: "runtime-setup")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("setup: ok (runtime: mosquitto"), "\(result.output)")
        let script = try String(contentsOf: repositoryRoot.appendingPathComponent("scripts/setup.sh"), encoding: .utf8)
        let runtimeLine = try #require(script.components(separatedBy: "\n").first { $0.contains("--runtime) MODE=runtime") })
        #expect(!runtimeLine.contains("-dev") && !runtimeLine.contains("pip"))
    }
}
