import DXL
import ArgumentParser
import TIESimulator

/// Loads every scenario, printing all mistakes of all files before giving up with exit code 2.
func loadScenarios(_ paths: [String]) throws -> [Scenario] {
    var scenarios: [Scenario] = []
    var issues: [ScenarioIssue] = []
    for path in paths {
        do {
            scenarios.append(try ScenarioLoader.load(path: path))
        } catch {
            issues += error.issues
        }
    }
    if !issues.isEmpty {
        for issue in issues { printError(issue.description) }
        printError("\(issues.count) mistake\(issues.count == 1 ? "" : "s") found; nothing was played")
        throw Exit.invalidInput
    }
    return scenarios
}

/// Prints player progress on stderr for long steps.
func progressPrinter(_ progress: ScenarioPlayer.Progress) {
    if progress.total > 1 {
        printError("[\(progress.scenario)] \(progress.step): \(progress.sent)/\(progress.total)")
    }
}

/// Reads a `dxlclient.config`, exiting with code 2 and the file's mistake when it cannot be used.
func readClientConfig(_ path: String) throws -> DXLClientConfig {
    do {
        return try DXLClientConfig(contentsOf: path)
    } catch {
        printError("tiesim: \(error)")
        throw Exit.invalidInput
    }
}

/// Runs `start` (a connect), exiting with code 3 and the reason when no broker can be reached.
func starting(_ start: () async throws -> Void) async throws {
    do {
        try await start()
    } catch {
        printError("tiesim: \(error)")
        throw Exit.environment
    }
}
