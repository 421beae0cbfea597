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
