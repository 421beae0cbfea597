import Foundation
import TIE

/// Writes a run's reports: JUnit XML for CI systems, the journal as JSON Lines, and one self-contained
/// HTML page for a person reading a failed run.
public enum Reports {
    static func xml(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", duration.inSeconds)
    }

    /// `value` with at most three decimals and no trailing zeros: 2, 0.5, 0.125.
    static func trimmed(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// JUnit XML: one test case per played step and per expectation.
    public static func junit(_ report: VerificationReport, suiteName: String = "tiesim") -> String {
        let failures = report.expectations.filter { !$0.passed }.count + (report.playError == nil ? 0 : 1)
        var lines = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                     "<testsuites name=\"\(xml(suiteName))\" tests=\"\(report.steps.count + report.expectations.count + (report.playError == nil ? 0 : 1))\" failures=\"\(failures)\">",
                     "  <testsuite name=\"steps\" tests=\"\(report.steps.count + (report.playError == nil ? 0 : 1))\" failures=\"\(report.playError == nil ? 0 : 1)\">"]
        for step in report.steps {
            lines.append("    <testcase classname=\"\(xml(step.scenario)).steps\" name=\"\(xml(step.step))\" file=\"\(xml(step.source))\" line=\"\(step.line)\" time=\"\(seconds(step.duration))\">")
            lines.append("      <system-out>\(xml("sent \(step.sent) event(s) on \(step.topic)"))</system-out>")
            lines.append("    </testcase>")
        }
        if let error = report.playError {
            lines.append("    <testcase classname=\"steps\" name=\"timeline\"><failure message=\"\(xml(error))\">\(xml(error))</failure></testcase>")
        }
        lines.append("  </testsuite>")
        lines.append("  <testsuite name=\"expectations\" tests=\"\(report.expectations.count)\" failures=\"\(report.expectations.filter { !$0.passed }.count)\">")
        for result in report.expectations {
            let expectation = result.expectation
            lines.append("    <testcase classname=\"expectations\" name=\"\(xml(expectation.name))\" file=\"\(xml(expectation.source))\" line=\"\(expectation.line)\">")
            if !result.passed {
                lines.append("      <failure message=\"\(xml("expected \(expectation.description); saw \(result.matched.count) matching"))\">\(xml(result.message))</failure>")
            }
            lines.append("    </testcase>")
        }
        lines.append("  </testsuite>")
        lines.append("</testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The journal as JSON Lines.
    public static func journalLines(_ entries: [JournalEntry]) -> String {
        entries.map { $0.json.serialized() }.joined(separator: "\n") + (entries.isEmpty ? "" : "\n")
    }

    /// One self-contained HTML page: verdict, expectations, and the timeline of steps, requests and events.
    public static func html(_ report: VerificationReport, title: String = "tiesim run") -> String {
        func escape(_ text: String) -> String { xml(text) }
        var body = "<h1>\(escape(title))</h1>"
        body += "<p class=\"verdict \(report.passed ? "pass" : "fail")\">\(report.passed ? "PASSED" : "FAILED"): \(escape(report.summary.split(separator: "\n").last.map(String.init) ?? ""))</p>"
        if let error = report.playError { body += "<p class=\"fail\">\(escape(error))</p>" }
        body += "<h2>Expectations</h2><table><tr><th></th><th>expectation</th><th>where</th><th>matching</th></tr>"
        for result in report.expectations {
            body += "<tr class=\"\(result.passed ? "pass" : "fail")\"><td>\(result.passed ? "✔" : "✘")</td><td><b>\(escape(result.expectation.name))</b><br><code>\(escape(result.expectation.description))</code>"
            if !result.passed { body += "<pre>\(escape(result.message))</pre>" }
            body += "</td><td><code>\(escape(result.expectation.location))</code></td><td>\(result.matched.count)</td></tr>"
        }
        body += "</table><h2>Timeline</h2>" + TimelineDrawing.svg(report)
        body += "<h2>Journal</h2><table><tr><th>time</th><th>kind</th><th>topic</th><th>details</th></tr>"
        for entry in report.journal.prefix(5000) {
            let payload = entry.payload == .null ? "" : entry.payload.serialized(style: .python)
            body += "<tr class=\"\(entry.kind.rawValue)\"><td>+\(seconds(entry.offset))s</td><td>\(entry.kind.rawValue)</td><td><code>\(escape(entry.topic))</code></td><td>\(escape(entry.note ?? ""))<code>\(escape(payload.count > 400 ? String(payload.prefix(400)) + "…" : payload))</code></td></tr>"
        }
        if report.journal.count > 5000 { body += "<tr><td colspan=\"4\">… \(report.journal.count - 5000) more entries in the journal</td></tr>" }
        body += "</table>"
        let style = """
        body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%;margin-bottom:2em}
        td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
        .verdict{font-size:20px;font-weight:bold;padding:8px}.pass .verdict,.verdict.pass{background:#dfd}.verdict.fail{background:#fdd}
        tr.fail{background:#fee}tr.pass{background:#efe}tr.step{background:#eef}tr.error-reply{background:#fed}
        pre{white-space:pre-wrap;margin:4px 0}code{font-size:12px;word-break:break-all}
        """
        return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>\(escape(title))</title><script>\(TimelineDrawing.errorRecorder)</script>"
            + "<style>\(style)\(TimelineDrawing.style)</style></head><body>\(body)<script>\(TimelineDrawing.script)</script></body></html>\n"
    }

    /// Writes whichever reports were asked for.
    /// Writes the reports that have a path, creating their folders (`reports/tiesim.xml` in a fresh checkout).
    public static func write(_ report: VerificationReport, junit: String?, journal: String?, html: String?) throws {
        let save = { (text: String, path: String) throws in
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        if let junit { try save(Self.junit(report), junit) }
        if let journal { try save(journalLines(report.journal), journal) }
        if let html { try save(Self.html(report), html) }
    }
}
