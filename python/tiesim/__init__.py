"""A fake TIE / DXL fabric for Python tests: runs `tiesim up` (real mosquitto brokers with tiesim's DXL
broker plugin, the fake TIE server) on free ports with a state directory of its own, and drives it.

    with tiesim.Fabric(scenarios=["scenarios/basic-detection.yaml"]) as fabric:
        client = fabric.client()            # a connected dxlclient DxlClient
        fabric.play("timeline: ...")        # the steps played
        fabric.verify("expect: ...").assert_passed()

The pytest plugin (installed with this package) offers the `tie_fabric` and `tie_fabric_session`
fixtures; see `tiesim.pytest_plugin`.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

__all__ = ["Fabric", "FabricError", "VerifyResult", "find_tiesim"]


class FabricError(Exception):
    """tiesim could not be found, could not start, or refused a request."""


def find_tiesim():
    """The tiesim executable: $TIESIM, then PATH, then the `swift build` output of the tiesim repository
    this package was installed from in place (`pip install -e`) or of the working directory or a folder
    above it."""
    explicit = os.environ.get("TIESIM")
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise FabricError("TIESIM=%s is not an executable file — point it at a built tiesim" % explicit)
    on_path = shutil.which("tiesim")
    if on_path:
        return on_path
    folders = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))]
    folder = os.getcwd()
    while True:
        folders.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    searched = []
    for repository in folders:
        for configuration in ("debug", "release"):
            candidate = os.path.join(repository, ".build", configuration, "tiesim")
            searched.append(candidate)
            if os.access(candidate, os.X_OK):
                return candidate
    searched = searched[:4] + (["…"] if len(searched) > 4 else [])
    raise FabricError(
        "tiesim not found (looked at $TIESIM, PATH and %s) — build it with `swift build` in the tiesim "
        "repository, or set TIESIM to its path" % ", ".join(searched))


class VerifyResult:
    """What `Fabric.verify` found: `passed`, and each expectation's `results` (name, passed, matched,
    message)."""

    def __init__(self, answer):
        self.passed = bool(answer.get("passed"))
        self.results = answer.get("results", [])

    @property
    def text(self):
        """tiesim's readable account of every expectation."""
        return "\n".join("%s %s: %s" % ("PASS" if r.get("passed") else "FAIL", r.get("name"), r.get("message"))
                         for r in self.results)

    def assert_passed(self):
        """Raises AssertionError with tiesim's failure text unless every expectation held."""
        if not self.passed:
            raise AssertionError("tiesim expectations failed:\n" + self.text)

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return "VerifyResult(passed=%r, results=%r)" % (self.passed, self.results)


_certificate_cache = {"folder": None}
_cache_lock = threading.Lock()


class Fabric:
    """A running fake TIE fabric: a context manager that starts `tiesim up` and always stops it.

    `scenarios`: scenario files (what TIE knows and plays); `brokers`: how many bridged brokers;
    `no_tie`: the broker services only (bring your own TIE service); `timeout`: seconds to wait for it
    to be ready. Certificates are made once per process and copied into each fabric's state directory.
    """

    def __init__(self, scenarios=(), brokers=1, no_tie=False, timeout=60, tiesim=None, extra_arguments=(), management=None):
        self.scenarios = [os.path.abspath(path) for path in scenarios]
        # (user, password): also run the client provisioning service (`dxlclient provisionconfig`).
        self.management = management
        self.management_port = None
        self.websockets_config_path = None
        self.brokers = brokers
        self.no_tie = no_tie
        self.timeout = timeout
        self.executable = tiesim or find_tiesim()
        self.extra_arguments = list(extra_arguments)
        self.state_dir = None
        self.config_path = None
        self.control_url = None
        self.ready_line = None
        self._process = None
        self._clients = []
        self._output = None

    # -- lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.state_dir = tempfile.mkdtemp(prefix="tiesim-pytest-")
        with _cache_lock:
            cached = _certificate_cache["folder"]
        if cached and os.path.isdir(cached):
            shutil.copytree(cached, os.path.join(self.state_dir, "certs"))
        arguments = [self.executable, "up", *self.scenarios, "--state-dir", self.state_dir, "--brokers", str(self.brokers)]
        if self.no_tie:
            arguments.append("--no-tie")
        if self.management:
            user, password = self.management
            arguments += ["--management-port", "0", "--management-user", user, "--management-password", password]
        arguments += self.extra_arguments
        self._output = open(os.path.join(self.state_dir, "tiesim.out"), "w+")
        # tiesim (and with it its brokers) ends when this process dies, however it dies: killed pytest
        # workers leave nothing behind. util-linux's setpriv sets the parent-death signal.
        setpriv = shutil.which("setpriv")
        if setpriv:
            arguments = [setpriv, "--pdeathsig", "TERM", "--"] + arguments
        self._process = subprocess.Popen(arguments, stdout=self._output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        ready = os.path.join(self.state_dir, "ready")
        deadline = time.monotonic() + self.timeout
        try:
            while not os.path.exists(ready):
                if self._process.poll() is not None:
                    raise FabricError("tiesim up exited with %s before it was ready:\n%s" % (self._process.returncode, self.output()))
                if time.monotonic() > deadline:
                    raise FabricError("tiesim up was not ready within %s s:\n%s" % (self.timeout, self.output()))
                time.sleep(0.01)
            with open(ready) as handle:
                self.ready_line = handle.read().strip()
            self.config_path = os.path.join(self.state_dir, "dxlclient.config")
            websockets = os.path.join(self.state_dir, "dxlclient-websockets.config")
            self.websockets_config_path = websockets if os.path.exists(websockets) else None
            provisioning = "provisioning https://"
            if provisioning in self.ready_line:
                self.management_port = int(self.ready_line.split(provisioning, 1)[1].split(";")[0].rstrip(")").rsplit(":", 1)[1])
            marker = "control API "
            if marker in self.ready_line:
                self.control_url = self.ready_line.split(marker, 1)[1].rstrip(")").split(";")[0].strip()
            with _cache_lock:
                if not _certificate_cache["folder"]:
                    folder = tempfile.mkdtemp(prefix="tiesim-pytest-certs-")
                    shutil.rmtree(folder)
                    shutil.copytree(os.path.join(self.state_dir, "certs"), folder)
                    _certificate_cache["folder"] = folder
                    atexit.register(shutil.rmtree, folder, True)  # it holds the CA's private key
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Disconnects the clients it made, stops tiesim (SIGTERM, then SIGKILL) and removes its state."""
        self.destroy_clients()
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
        if self._output is not None:
            self._output.close()
            self._output = None
        if self.state_dir and os.path.isdir(self.state_dir):
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def output(self):
        """What tiesim printed so far."""
        try:
            with open(os.path.join(self.state_dir, "tiesim.out")) as handle:
                return handle.read()
        except OSError:
            return ""

    # -- clients

    def destroy_clients(self):
        """Destroys the clients `client()` made so far."""
        for client in self._clients:
            try:
                client.destroy()
            except Exception:  # a client already gone is fine
                pass
        self._clients = []

    def client(self, connect=True, websockets=False, config_path=None):
        """A dxlclient DxlClient of this fabric (connected unless told otherwise), destroyed when the
        fabric stops; over the brokers' WebSocket listeners with `websockets`; with another of the
        fabric's configurations (another client certificate) by `config_path`."""
        from dxlclient.client import DxlClient
        from dxlclient.client_config import DxlClientConfig
        config = DxlClientConfig.create_dxl_config_from_file(config_path or self.config_path)
        if websockets:
            if not config.websocket_brokers:
                raise FabricError("this fabric has no WebSocket listeners (it was started with --no-websockets)")
            config.use_websockets = True
        client = DxlClient(config)
        self._clients.append(client)
        if connect:
            client.connect()
        return client

    # -- control

    def load(self, yaml_text):
        """Adds the files, certificates and faults of a scenario document to what the fake TIE knows."""
        return self._post("/load", yaml_text)

    def play(self, yaml_text):
        """Plays a scenario document's timeline (it may name loaded files) and returns the steps played,
        once it is done, however long it takes."""
        return self._request("POST", "/play", yaml_text.encode("utf8"), timeout=None).get("steps", [])

    def verify(self, yaml_text):
        """Checks a scenario document's `expect:` section against what happened so far."""
        return VerifyResult(self._post("/verify", yaml_text))

    def journal(self, since_ms=None):
        """Everything seen and done on the fabric (entries as dicts), after `since_ms` when given."""
        query = "" if since_ms is None else "?sinceMs=%s" % since_ms
        return self._request("GET", "/journal" + query).get("entries", [])

    def reset(self):
        """Back to the state at start: knowledge, faults and journal."""
        return self._post("/reset", "")

    def health(self):
        return self._request("GET", "/health")

    def _post(self, path, text):
        return self._request("POST", path, text.encode("utf8"))

    def _request(self, method, path, body=None, timeout=120):
        if not self.control_url:
            raise FabricError("this fabric has no control API (it was started with --no-http)")
        request = urllib.request.Request(self.control_url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf8") or "{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf8", "replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise FabricError("tiesim refused %s %s: %s" % (method, path, detail)) from None
        except (urllib.error.URLError, OSError) as error:
            raise FabricError("tiesim did not answer %s %s: %s\n%s" % (method, path, error, self.output())) from None
