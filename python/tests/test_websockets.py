"""WebSockets as DXL brokers offer them: the unmodified dxlclient with UseWebSockets=true, through the
WebSocket listener tiesim runs in front of each broker (mutual TLS, the client's identity kept)."""
import os
import ssl
import subprocess
import sys
import threading
import time

import pytest
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import Event
from dxlclient.callbacks import EventCallback
from dxltieclient import TieClient

import tiesim
from conftest import SCENARIOS, ROOT

FILE = """
files:
  WSTEST.EXE:
    md5: 00000000000000000000000000000ace
    reputations: {GTI: KNOWN_MALICIOUS}
"""


@pytest.mark.tiesim(scenarios=[os.path.join(SCENARIOS, "basic-detection.yaml")])
def test_the_detection_sample_over_websockets_prints_the_seed_detection(tie_fabric):
    assert tie_fabric.websockets_config_path, tie_fabric.ready_line
    with open(tie_fabric.websockets_config_path) as handle:
        assert "UseWebSockets=true" in handle.read()
    sample = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "detection_listener.py"), tie_fabric.websockets_config_path,
                             "--count", "1", "--timeout", "60"], capture_output=True, text=True, timeout=90)
    assert sample.returncode == 0, sample.stdout + sample.stderr + tie_fabric.output()
    assert '"name": "FOCUS_MALWARE2.EXE"' in sample.stdout
    assert '"agentGuid": "{68125cd6-a5d8-11e6-348e-000c29663178}"' in sample.stdout


def test_a_tie_lookup_over_websockets(tie_fabric):
    tie_fabric.load(FILE)
    client = tie_fabric.client(websockets=True)
    assert client.config.use_websockets and client.connected
    reputations = TieClient(client).get_file_reputation({"md5": "00000000000000000000000000000ace"})
    assert reputations[1]["trustLevel"] == 1
    # The fake TIE saw the request from this client, through the broker like any other.
    requests = [entry for entry in tie_fabric.journal() if entry["kind"] == "request"]
    assert requests and requests[-1]["source"] == client.config._client_id


def test_the_broker_knows_a_websocket_client_by_its_certificate():
    """Topic authorisation sees the identity of the certificate the WebSocket client presented."""
    with tiesim.Fabric(extra_arguments=["--clients", "client", "other", "--allow-send", "/acme/alerts=client"]) as fabric:
        received, arrived = [], threading.Event()

        class Callback(EventCallback):
            def on_event(self, event):
                received.append(event.payload.decode())
                arrived.set()

        listener = fabric.client()
        listener.add_event_callback("/acme/alerts", Callback())
        allowed = fabric.client(websockets=True)
        refused = fabric.client(websockets=True, config_path=os.path.join(fabric.state_dir, "dxlclient-other.config"))
        for client, text in ((refused, "from other"), (allowed, "from client")):
            event = Event("/acme/alerts")
            event.payload = text.encode()
            client.send_event(event)
        assert arrived.wait(20), fabric.output()
        # The broker dropped the other client's event: it says so in the journal (waited for, not slept on).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            denied = [entry for entry in fabric.journal() if entry["kind"] == "denied"]
            if any(entry.get("note", "").startswith("other may not send on /acme/alerts") for entry in denied):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no denied entry: %s" % fabric.journal())
        assert received == ["from client"]


def websocket_connect(fabric, certificate, key):
    """Connects with paho (what dxlclient uses) over WebSockets: the connect result code, or the error."""
    from pahoproxy import client as mqtt
    config = DxlClientConfig.create_dxl_config_from_file(fabric.websockets_config_path)
    broker = config.websocket_brokers[0]
    results, done = [], threading.Event()
    client = mqtt.Client(client_id="ws-probe", protocol=mqtt.MQTTv311, transport="websockets")
    client.tls_set(ca_certs=config.broker_ca_bundle, certfile=certificate, keyfile=key)
    client.tls_insecure_set(True)
    client.on_connect = lambda c, u, f, rc: (results.append(rc), done.set())
    try:
        client.connect(broker.ip_address, broker.port)
    except Exception as error:  # the handshake's verdict
        return error
    client.loop_start()
    try:
        assert done.wait(10)
        return results[0]
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_certificate_from_another_ca_is_refused(tie_fabric, tmp_path):
    foreign = tmp_path / "foreign"
    made = subprocess.run([tie_fabric.executable, "certs", "--out", str(foreign), "--clients", "1"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    refused = websocket_connect(tie_fabric, str(foreign / "client1.crt"), str(foreign / "client1.key"))
    assert isinstance(refused, ssl.SSLError), refused
    # The same client code with the fabric's own certificate connects, and the listener still serves.
    certs = os.path.join(tie_fabric.state_dir, "certs")
    assert websocket_connect(tie_fabric, os.path.join(certs, "client.crt"), os.path.join(certs, "client.key")) == 0
    assert tie_fabric.client(websockets=True).connected


def test_the_internal_listener_refuses_clients_without_the_secret(tie_fabric):
    """The broker's loopback listener behind the WebSocket listener takes no one else."""
    from pahoproxy import client as mqtt
    with open(os.path.join(tie_fabric.state_dir, "broker", "mosquitto.conf")) as handle:
        listeners = [line.split()[1] for line in handle if line.startswith("listener ") and line.rstrip().endswith("127.0.0.1")]
    internal = int(listeners[-1])
    results, done = [], threading.Event()
    client = mqtt.Client(client_id="intruder", protocol=mqtt.MQTTv311)
    client.username_pw_set("client", "guess")
    client.on_connect = lambda c, u, f, rc: (results.append(rc), done.set())
    client.connect("127.0.0.1", internal)
    client.loop_start()
    try:
        assert done.wait(10)
        assert results == [5]  # not authorised
    finally:
        client.loop_stop()
        client.disconnect()
