"""Client provisioning as from ePO: the unmodified `dxlclient provisionconfig` and `updateconfig` against
tiesim's management service."""
import os
import subprocess
import sys

import pytest

import tiesim
from conftest import SCENARIOS, ROOT

USER, PASSWORD = "admin", "s3cret"


def dxlclient_cli(*arguments):
    return subprocess.run([sys.executable, "-m", "dxlclient", *arguments], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def managed_fabric():
    with tiesim.Fabric(scenarios=[os.path.join(SCENARIOS, "basic-detection.yaml")], management=(USER, PASSWORD)) as fabric:
        assert fabric.management_port, fabric.ready_line
        yield fabric


def test_a_provisioned_client_connects_and_receives_the_seed_detection(managed_fabric, tmp_path):
    folder = tmp_path / "provisioned"
    done = dxlclient_cli("provisionconfig", str(folder), "127.0.0.1", "newclient", "-u", USER, "-p", PASSWORD, "-t", str(managed_fabric.management_port))
    assert done.returncode == 0, done.stdout + done.stderr
    config = (folder / "dxlclient.config").read_text()
    assert "[Brokers]" in config and "[BrokersWebSockets]" in config
    sample = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "detection_listener.py"), str(folder / "dxlclient.config"),
                             "--count", "1", "--timeout", "60"], capture_output=True, text=True, timeout=90)
    assert sample.returncode == 0, sample.stdout + sample.stderr + managed_fabric.output()
    assert '"name": "FOCUS_MALWARE2.EXE"' in sample.stdout
    # The broker knows the new client by the name it asked for.
    assert "connected as 'newclient'" in (open(os.path.join(managed_fabric.state_dir, "broker", "mosquitto.log")).read())


def test_updateconfig_restores_the_broker_list_and_ca_bundle(managed_fabric, tmp_path):
    folder = tmp_path / "provisioned"
    assert dxlclient_cli("provisionconfig", str(folder), "127.0.0.1", "updater", "-u", USER, "-p", PASSWORD,
                         "-t", str(managed_fabric.management_port)).returncode == 0
    config_path = folder / "dxlclient.config"
    original = config_path.read_text()
    config_path.write_text(original.replace("[Brokers]\n", "[Brokers]\nstale = stale;1;nowhere.invalid;10.0.0.1\n"))
    assert "nowhere.invalid" in config_path.read_text()  # the stale broker is there for updateconfig to remove
    (folder / "ca-bundle.crt").write_text("")
    done = dxlclient_cli("updateconfig", str(folder), "127.0.0.1", "-u", USER, "-p", PASSWORD, "-t", str(managed_fabric.management_port))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nowhere.invalid" not in config_path.read_text()
    with open(os.path.join(managed_fabric.state_dir, "certs", "ca.crt")) as handle:
        assert (folder / "ca-bundle.crt").read_text().strip() == handle.read().strip()
    assert managed_fabric.client(config_path=str(config_path)).connected


def test_a_wrong_password_gets_the_clis_own_error_and_nothing(managed_fabric, tmp_path):
    folder = tmp_path / "refused"
    done = dxlclient_cli("provisionconfig", str(folder), "127.0.0.1", "intruder", "-u", USER, "-p", "wrong", "-t", str(managed_fabric.management_port))
    assert done.returncode != 0
    assert "failed with HTTP error code: 401" in done.stderr
    assert not (folder / "client.crt").exists() and not (folder / "dxlclient.config").exists()


def test_a_malformed_request_gets_an_error_and_nothing_is_signed(managed_fabric, tmp_path):
    request = tmp_path / "bad.csr"
    request.write_text("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    folder = tmp_path / "malformed"
    done = dxlclient_cli("provisionconfig", str(folder), "127.0.0.1", str(request), "-r", "-u", USER, "-p", PASSWORD,
                         "-t", str(managed_fabric.management_port))
    assert done.returncode != 0
    assert "failed with status: ERROR 400" in done.stderr and "not a PEM certificate signing request" in done.stderr
    assert not (folder / "client.crt").exists()


def test_tiesims_own_identities_are_not_signed(managed_fabric, tmp_path):
    done = dxlclient_cli("provisionconfig", str(tmp_path / "impostor"), "127.0.0.1", "tiesim", "-u", USER, "-p", PASSWORD,
                         "-t", str(managed_fabric.management_port))
    assert done.returncode != 0
    assert "is tiesim's own" in done.stderr
    assert not (tmp_path / "impostor" / "client.crt").exists()
