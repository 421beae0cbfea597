import DXL
import Foundation
import TIE

/// The run drawn as an SVG timeline for the HTML report: one lane for tiesim (its steps, the events it
/// played, the fake TIE's answers, faults, the broker's refusals and error replies) and one per client
/// (what that client sent); every journal entry a mark at its time, each expectation's window shaded
/// green or red. Marks carry their details for the page's script (click shows the payload) and a
/// `<title>` (hover). A plain function of the report.
enum TimelineDrawing {
    /// The most marks drawn (the journal behind them may be longer; the page says how many were left out).
    static let markLimit = 5_000
    /// The most client lanes; further clients share the last one.
    static let laneLimit = 24

    /// What a mark stands for, as its `data-kind` (CSS class `mark-KIND`).
    enum MarkKind: String, CaseIterable {
        case step, event, request, response, errorReply = "error-reply", fault, denied
    }

    struct Mark {
        var kind: MarkKind
        var lane: Int
        var offset: Duration
        var title: String
        var detail: String
    }

    /// The lanes (tiesim first) and the marks of `entries`.
    static func marks(_ entries: [JournalEntry]) -> (lanes: [String], marks: [Mark]) {
        var lanes = ["tiesim"]
        var laneOf: [String: Int] = [:]
        func clientLane(_ source: String) -> Int {
            if source.isEmpty || source.hasPrefix("tiesim") { return 0 }
            if let lane = laneOf[source] { return lane }
            if lanes.count > laneLimit {
                if lanes.count == laneLimit + 1 { lanes.append("other clients") }
                laneOf[source] = laneLimit + 1
                return laneLimit + 1
            }
            lanes.append(source)
            laneOf[source] = lanes.count - 1
            return lanes.count - 1
        }
        // A TIE request the fake TIE answered without an error or a fault: the journal holds the request
        // once answered, so its answer is drawn at the same time.
        let notPlainlyAnswered = Set(entries.filter { $0.kind == .fault || $0.kind == .errorReply }.map(\.messageId))
        var marks: [Mark] = []
        for entry in entries.prefix(markLimit) {
            let value = entry.payload  // decoded from the journal's bytes: once
            let payload = value == .null ? "" : value.serialized(style: .python)
            let detail = [entry.note, "\(entry.kind.rawValue) \(entry.topic)", entry.source.isEmpty ? nil : "from \(entry.source)",
                          entry.messageId.isEmpty ? nil : "message \(entry.messageId)", payload.isEmpty ? nil : payload]
                .compactMap { $0 }.joined(separator: "\n")
            let title = "+\(Reports.seconds(entry.offset))s \(entry.kind.rawValue) \(entry.topic)" + (entry.note.map { ": \($0)" } ?? "")
            // Requests and events in their client's lane; what tiesim did (steps, errors, faults, denials) in its own.
            let fromClient = entry.kind == .request || entry.kind == .event
            let kind = MarkKind(rawValue: entry.kind.rawValue) ?? .step
            marks.append(Mark(kind: kind, lane: fromClient ? clientLane(entry.source) : 0, offset: entry.offset, title: title, detail: detail))
            if entry.kind == .request && TieTopic.requestTopics.contains(entry.topic) && !notPlainlyAnswered.contains(entry.messageId) {
                marks.append(Mark(kind: .response, lane: 0, offset: entry.offset, title: "+\(Reports.seconds(entry.offset))s response on \(entry.topic)",
                                  detail: "the fake TIE answered\n" + detail))
            }
        }
        return (lanes, marks)
    }

    /// The `<svg>` element and its legend.
    static func svg(_ report: VerificationReport) -> String {
        let escape = Reports.xml
        let (lanes, marks) = marks(report.journal)
        let windows = report.expectations.map { result in
            (result, ExpectationChecker.window(of: result.expectation, in: report.journal))
        }
        // The time axis: the whole journal and every closed window, at least a second.
        var end = report.journal.map(\.offset).max() ?? .zero
        for (_, window) in windows { if let close = window?.end, close > end { end = close } }
        let total = max(end.inSeconds * 1.05, 1)
        let left = 170.0, width = 900.0, laneHeight = 28.0, top = 30.0, windowHeight = 18.0
        // Below the lanes, one row per expectation: its window.
        let windowsTop = top + Double(lanes.count) * laneHeight + 8
        let height = windowsTop + Double(windows.count) * windowHeight + 10
        func x(_ offset: Duration) -> Double { left + width * min(offset.inSeconds / total, 1) }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        var svg = "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + width + 20))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(left + width + 20)) \(Int(height))\" role=\"img\" aria-label=\"timeline of the run\">"
        // Lanes and their names.
        for (index, name) in lanes.enumerated() {
            let y = top + Double(index) * laneHeight
            svg += "<rect class=\"lane\" x=\"\(number(left))\" y=\"\(number(y))\" width=\"\(number(width))\" height=\"\(number(laneHeight))\"/>"
            svg += "<text class=\"lane-name\" x=\"\(number(left - 8))\" y=\"\(number(y + laneHeight / 2 + 4))\" text-anchor=\"end\">"
                + escape(name.count > 24 ? String(name.prefix(23)) + "…" : name) + "<title>\(escape(name))</title></text>"
        }
        // The axis: a tick every step of a round number of seconds.
        let step = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600].first { total / $0 <= 10 } ?? 3600
        var tick = 0.0
        while tick <= total {
            let position = left + width * tick / total
            svg += "<line class=\"tick\" x1=\"\(number(position))\" y1=\"\(number(top - 4))\" x2=\"\(number(position))\" y2=\"\(number(height - 10))\"/>"
            svg += "<text class=\"tick-label\" x=\"\(number(position))\" y=\"\(number(top - 8))\" text-anchor=\"middle\">+\(Reports.trimmed(tick))s</text>"
            tick += step
        }
        // Expectation windows: a row each, named, shaded over the time the expectation looked at.
        for (index, (result, window)) in windows.enumerated() {
            let y = windowsTop + Double(index) * windowHeight
            let verdict = result.passed ? "pass" : "fail"
            let name = (result.passed ? "✔ " : "✘ ") + result.expectation.name
            let about = "\(name): \(result.expectation.description) (\(result.matched.count) matching)"
            svg += "<text class=\"window-name window-name-\(verdict)\" x=\"\(number(left - 8))\" y=\"\(number(y + windowHeight / 2 + 4))\" text-anchor=\"end\">"
                + escape(name.count > 26 ? String(name.prefix(25)) + "…" : name) + "<title>\(escape(about))</title></text>"
            // A window whose step never started has no place on the axis: the row stays empty.
            guard let window else { continue }
            let start = x(window.start), stop = window.end.map(x) ?? (left + width)
            svg += "<rect class=\"window window-\(verdict)\" data-expectation=\"\(index)\" data-verdict=\"\(verdict)\" x=\"\(number(start))\" "
                + "y=\"\(number(y + 2))\" width=\"\(number(max(stop - start, 2)))\" height=\"\(number(windowHeight - 4))\">"
                + "<title>\(escape(about))</title></rect>"
        }
        for (index, mark) in marks.enumerated() {
            let cx = x(mark.offset), cy = top + Double(mark.lane) * laneHeight + laneHeight / 2
            let shape: String
            switch mark.kind {
            case .step: shape = "<line x1=\"\(number(cx))\" y1=\"\(number(cy - 11))\" x2=\"\(number(cx))\" y2=\"\(number(cy + 11))\"/>"
            case .event: shape = "<circle cx=\"\(number(cx))\" cy=\"\(number(cy))\" r=\"5\"/>"
            case .request: shape = "<rect x=\"\(number(cx - 4.5))\" y=\"\(number(cy - 4.5))\" width=\"9\" height=\"9\"/>"
            case .response: shape = "<polygon points=\"\(number(cx)),\(number(cy - 6)) \(number(cx + 6)),\(number(cy + 5)) \(number(cx - 6)),\(number(cy + 5))\"/>"
            case .errorReply, .denied: shape = "<polygon points=\"\(number(cx)),\(number(cy - 7)) \(number(cx + 7)),\(number(cy)) \(number(cx)),\(number(cy + 7)) \(number(cx - 7)),\(number(cy))\"/>"
            case .fault: shape = "<path d=\"M\(number(cx - 6)) \(number(cy - 6))L\(number(cx + 6)) \(number(cy + 6))M\(number(cx + 6)) \(number(cy - 6))L\(number(cx - 6)) \(number(cy + 6))\"/>"
            }
            svg += "<g class=\"mark mark-\(mark.kind.rawValue)\" data-kind=\"\(mark.kind.rawValue)\" data-index=\"\(index)\" data-detail=\"\(escape(mark.detail).replacingOccurrences(of: "\n", with: "&#10;"))\" tabindex=\"0\">"
                + "<title>\(escape(mark.title))</title>\(shape)</g>"
        }
        svg += "</svg>"
        var legend = "<p class=\"legend\">"
        for kind in MarkKind.allCases {
            legend += "<span class=\"key key-\(kind.rawValue)\">\(kind.rawValue)</span> "
        }
        legend += "<span class=\"key key-window-pass\">window held</span> <span class=\"key key-window-fail\">window failed</span></p>"
        if report.journal.count > markLimit {
            legend += "<p>The first \(markLimit) of \(report.journal.count) journal entries are drawn.</p>"
        }
        return legend + "<div class=\"timeline-box\">" + svg + "</div><pre id=\"mark-detail\">Click a mark for its details.</pre>"
    }

    static let style = """
    .timeline-box{overflow-x:auto;border:1px solid #ccc;margin-bottom:8px}#timeline{font-size:11px;font-family:sans-serif}
    .lane{fill:#fafafa;stroke:#eee}.lane-name{fill:#333}.tick{stroke:#ddd}.tick-label{fill:#666}
    .window-pass{fill:#2a2;fill-opacity:.35}.window-fail{fill:#d22;fill-opacity:.4}.window-name-pass{fill:#272}.window-name-fail{fill:#b22}
    .mark{cursor:pointer}.mark.selected *{stroke:#000;stroke-width:2}
    .mark-event circle{fill:#27c}.mark-request rect{fill:#e80}.mark-response polygon{fill:#3a3}.mark-error-reply polygon{fill:#c33}
    .mark-denied polygon{fill:#a3c}.mark-fault path{stroke:#c00;stroke-width:2.5}.mark-step line{stroke:#555;stroke-width:2}
    .legend .key{padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}.key-event{background:#27c}.key-request{background:#e80}
    .key-response{background:#3a3}.key-error-reply{background:#c33}.key-denied{background:#a3c}.key-fault{background:#c00}.key-step{background:#555}
    .key-window-pass{background:#8c8}.key-window-fail{background:#e99}#mark-detail{background:#f6f6f6;padding:6px;min-height:2em}
    """

    /// Click (or Enter on) a mark: its details below the drawing. Errors are kept on the page
    /// (`data-script-errors`), where a test or a curious reader can see them.
    static let script = """
    (function(){
      var detail=document.getElementById('mark-detail');
      var marks=document.querySelectorAll('#timeline .mark');
      function show(mark){
        var old=document.querySelector('#timeline .mark.selected');
        if(old){old.classList.remove('selected');}
        mark.classList.add('selected');
        detail.textContent=mark.getAttribute('data-detail');
      }
      marks.forEach(function(mark){
        mark.addEventListener('click',function(){show(mark);});
        mark.addEventListener('keydown',function(e){if(e.key==='Enter'){show(mark);}});
      });
      document.getElementById('timeline').setAttribute('data-interactive',String(marks.length));
    })();
    """

    /// Installed first in the page: script errors are recorded on the document.
    static let errorRecorder = """
    window.addEventListener('error',function(e){var d=document.documentElement;d.setAttribute('data-script-errors',(d.getAttribute('data-script-errors')||'')+e.message+';');});
    """
}
