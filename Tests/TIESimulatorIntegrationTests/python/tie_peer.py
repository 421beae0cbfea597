#!/usr/bin/env python3
"""The unmodified Python dxltieclient 0.3.0 (on dxlclient 5.7.0.1) as the client under test.

Subcommands print JSON lines (sort_keys) so the Swift tests can compare exactly what Python saw.
"""
import json
import os
import sys
import threading
import time

from dxlclient.message import Request
from dxltieclient import (DetectionCallback, FirstInstanceCallback, ReputationChangeCallback, TieClient)

# The plain dxlclient peer's helpers: JSON-line output, a client from a config file, an echo service.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "DXLIntegrationTests", "python"))
from dxl_peer import client_for, out, serve  # noqa: E402


def callbacks(config_path, kinds, count, timeout):
    received = []
    done = threading.Event()

    def record(kind, value, event):
        received.append(1)
        out({"kind": kind, "topic": event.destination_topic, "dict": value,
             "payload_contains_name": "MORPH.EXE" in event.payload.decode("utf8", "replace")})
        if len(received) >= int(count):
            done.set()

    class Detection(DetectionCallback):
        def on_detection(self, detection_dict, original_event):
            record("detection", detection_dict, original_event)

    class FirstInstance(FirstInstanceCallback):
        def on_first_instance(self, first_instance_dict, original_event):
            record("firstInstance", first_instance_dict, original_event)

    class RepChange(ReputationChangeCallback):
        def on_reputation_change(self, rep_change_dict, original_event):
            record("reputationChange", rep_change_dict, original_event)

    with client_for(config_path) as client:
        client.connect()
        tie = TieClient(client)
        for kind in kinds.split(","):
            if kind == "detection":
                tie.add_file_detection_callback(Detection())
            elif kind == "firstInstance":
                tie.add_file_first_instance_callback(FirstInstance())
            elif kind == "fileRepChange":
                tie.add_file_reputation_change_callback(RepChange())
            elif kind == "certRepChange":
                tie.add_certificate_reputation_change_callback(RepChange())
        out("READY")
        ok = done.wait(float(timeout))
    out("DONE" if ok else "TIMEOUT")
    sys.exit(0 if ok else 1)


def calls(config_path):
    """Runs TieClient methods read as JSON lines {"method", "kwargs"}; prints {"result"} or {"error"}."""
    with client_for(config_path) as client:
        client.connect()
        tie = TieClient(client)
        for line in sys.stdin:
            if not line.strip():
                continue
            call = json.loads(line)
            start = time.time()
            try:
                if call["method"] == "raw_request":
                    req = Request(call["kwargs"]["topic"])
                    req.payload = call["kwargs"]["payload"].encode("utf8")
                    res = client.sync_request(req, timeout=call["kwargs"].get("timeout", 10))
                    result = {"message_type": res.message_type, "payload": res.payload.decode("utf8", "replace"),
                              "error_code": getattr(res, "error_code", None), "error_message": getattr(res, "error_message", None)}
                elif call["method"] == "sleep":
                    time.sleep(call["kwargs"]["seconds"])
                    result = None
                else:
                    result = getattr(tie, call["method"])(**call["kwargs"])
                out({"result": result, "elapsed": time.time() - start})
            except Exception as error:  # the message is what the test asserts on
                out({"error": str(error), "type": type(error).__name__, "elapsed": time.time() - start})


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"callbacks": callbacks, "calls": calls, "serve": serve}[command](*args)
