"""The HTML report's timeline, loaded in a real browser: Debian's headless Chromium renders the page
tiesim wrote, and the drawing is checked in the DOM the browser built (after the page's script ran)."""
import json
import re
import shutil
import subprocess
import time

from dxltieclient import TieClient
from dxltieclient.constants import HashType

import tiesim

SCENARIO = """
name: report
settings: {waitForSubscribers: false}
files:
  GOOD.EXE:
    md5: 00000000000000000000000000000001
    reputations: {GTI: KNOWN_TRUSTED}
  BROKEN.EXE:
    md5: 00000000000000000000000000000002
faults:
  - name: lookups of BROKEN.EXE fail
    request: get_file_reputation
    file: BROKEN.EXE
    error: {code: 7, message: injected}
timeline:
  - name: the detection
    detection: {file: GOOD.EXE}
  - event: {topic: /acme/heartbeat, payload: {n: 1}}
    after: 100ms
expect:
  - name: the detection was played
    event: detection
    count: 1
  - name: nobody convicts a file
    request: set_file_reputation
    count: {exactly: 1}
    within: 2s
    after: the detection
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("no Chromium on this machine: run scripts/setup.sh (it installs Debian's chromium)")


def test_the_report_timeline_renders_in_chromium(tmp_path):
    scenario = tmp_path / "report.yaml"
    scenario.write_text(SCENARIO)
    report, journal = tmp_path / "report.html", tmp_path / "journal.jsonl"
    with tiesim.Fabric(scenarios=[str(scenario)], extra_arguments=["--report", str(report), "--journal", str(journal)]) as fabric:
        tie = TieClient(fabric.client())
        tie.get_file_reputation({HashType.MD5: "00000000000000000000000000000001"})
        try:
            tie.get_file_reputation({HashType.MD5: "00000000000000000000000000000002"})
        except Exception:
            pass  # the injected fault's error
        # Both steps played (the second waits 100 ms) before the fabric stops.
        deadline = time.monotonic() + 20
        while sum(entry["kind"] == "step" for entry in fabric.journal()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    # The fabric wrote the report, and the journal it drew, as it stopped.
    assert report.exists() and journal.exists(), "no report written"
    kinds = {}
    for line in journal.read_text().splitlines():
        kind = json.loads(line)["kind"]
        kinds[kind] = kinds.get(kind, 0) + 1
    browser = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--user-data-dir=" + str(tmp_path / "profile"), "--enable-logging=stderr", "--v=0",
                              "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
                             capture_output=True, text=True, timeout=120)
    assert browser.returncode == 0, browser.stderr[-2000:]
    dom = browser.stdout
    assert "<svg" in dom and 'id="timeline"' in dom, dom[:2000]

    def count(pattern):
        return len(re.findall(pattern, dom))

    # One mark per journal entry of each kind; an answer per TIE lookup that was neither faulted nor refused.
    assert count(r'data-kind="event"') == kinds.get("event", 0) >= 1
    assert count(r'data-kind="request"') == kinds.get("request", 0) == 2
    assert count(r'data-kind="fault"') == kinds.get("fault", 0) == 1
    assert count(r'data-kind="step"') == kinds.get("step", 0) == 2
    assert count(r'data-kind="response"') == 1
    # One window per expectation, green for the one that held and red for the one that failed.
    assert count(r'class="window window-pass"') == 1
    assert count(r'class="window window-fail"') == 1
    # Lanes: tiesim's and the client's.
    assert count(r'class="lane"') == 2
    # The page's script ran (it wires every mark for clicks) and nothing on the page raised.
    marks = count(r'class="mark ')
    assert re.search(r'data-interactive="%d"' % marks, dom), "the page's script did not run"
    assert not re.search(r"<html[^>]*data-script-errors", dom), re.search(r"<html[^>]*>", dom).group(0)
    assert "Uncaught" not in browser.stderr, browser.stderr[-2000:]
