"""The pytest plugin's own tests: a real tiesim, the unmodified dxlclient and dxltieclient."""
import json
import os
import threading

import pytest
from dxlclient.message import Message, Request
from dxltieclient import DetectionCallback, TieClient

import tiesim
from conftest import SCENARIOS

FILE = """
files:
  PYTEST.EXE:
    md5: 0123456789abcdef0123456789abcdef
    reputations: {GTI: KNOWN_MALICIOUS}
"""
PLAY = """
settings: {waitForSubscribers: true, subscriberTimeout: 30s}
timeline:
  - detection: {file: PYTEST.EXE, localReputation: KNOWN_MALICIOUS}
"""


def test_fixture_plays_a_detection_to_dxltieclient_and_verifies(tie_fabric):
    tie_fabric.load(FILE)
    received, done = [], threading.Event()

    class Callback(DetectionCallback):
        def on_detection(self, detection_dict, original_event):
            received.append(detection_dict)
            done.set()

    tie = TieClient(tie_fabric.client())
    tie.add_file_detection_callback(Callback())
    steps = tie_fabric.play(PLAY)
    assert [step["sent"] for step in steps] == [1]
    assert done.wait(20)
    assert received[0]["name"] == "PYTEST.EXE"
    reputations = tie.get_file_reputation({"md5": "0123456789abcdef0123456789abcdef"})
    assert reputations[1]["trustLevel"] == 1
    result = tie_fabric.verify("expect:\n  - event: detection\n    count: 1\n  - request: get_file_reputation\n")
    result.assert_passed()
    kinds = [entry["kind"] for entry in tie_fabric.journal()]
    assert "event" in kinds and "request" in kinds


def test_a_failed_expectation_raises_with_tiesims_text(tie_fabric):
    result = tie_fabric.verify("expect:\n  - event: detection\n")
    assert not result.passed
    with pytest.raises(AssertionError) as raised:
        result.assert_passed()
    assert "FAIL" in str(raised.value) and "detection" in str(raised.value)
    assert result.results[0]["message"] and result.results[0]["message"] in str(raised.value)  # tiesim's own words


@pytest.mark.tiesim(scenarios=[os.path.join(SCENARIOS, "reputation-lifecycle.yaml")], no_tie=True)
def test_marker_configures_the_fabric_no_tie(tie_fabric):
    client = tie_fabric.client()
    request = Request("/mcafee/service/dxl/svcregistry/query")
    request.payload = json.dumps({"serviceType": "/mcafee/service/tie"}).encode()
    response = client.sync_request(request, 10)
    assert response.message_type == Message.MESSAGE_TYPE_RESPONSE
    assert json.loads(response.payload.decode())["services"] == {}


def test_session_fabric_reset_forgets_what_a_test_loaded(tie_fabric_session):
    tie_fabric_session.load(FILE)
    tie = TieClient(tie_fabric_session.client())
    assert tie.get_file_reputation({"md5": "0123456789abcdef0123456789abcdef"})[1]["trustLevel"] == 1
    tie_fabric_session.reset()
    # Reset forgot PYTEST.EXE: the fake TIE answers it as unknown (GTI UNKNOWN).
    assert tie.get_file_reputation({"md5": "0123456789abcdef0123456789abcdef"})[1]["trustLevel"] == 50
    assert [entry["kind"] for entry in tie_fabric_session.journal()] == ["request"]


def test_destroy_clients_ends_the_clients_a_fabric_made(tie_fabric):
    """What the session fixture does after each test: the test's clients end with it."""
    first, second = tie_fabric.client(), tie_fabric.client()
    assert first.connected and second.connected
    tie_fabric.destroy_clients()
    assert not first.connected and not second.connected
    assert tie_fabric._clients == []


def test_control_errors_are_raised_with_tiesims_message(tie_fabric):
    with pytest.raises(tiesim.FabricError) as raised:
        tie_fabric.load("files:\n  A.EXE:\ntimeline:\n  - detection: {file: A.EXE}\n    after: 1e20s\n")
    assert "longer than 30 days" in str(raised.value)


def test_missing_tiesim_says_what_to_do(monkeypatch):
    monkeypatch.setenv("TIESIM", "/nonexistent/tiesim")
    with pytest.raises(tiesim.FabricError) as raised:
        tiesim.find_tiesim()
    assert "point it at a built tiesim" in str(raised.value)


def test_the_fabric_stops_when_the_test_fails():
    fabric = tiesim.Fabric()
    with pytest.raises(RuntimeError):
        with fabric:
            state = fabric.state_dir
            pid = fabric._process.pid
            raise RuntimeError("the test failed")
    assert not os.path.exists(state)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

