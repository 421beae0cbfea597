#!/usr/bin/env python3
"""Baseline for tiesim-bench callbacks: the Python dxltieclient DetectionCallback counting events.
Prints READY once subscribed, then the wall time of the last of COUNT events (or of the last one seen
when nothing arrives for 5 s)."""
import sys
import threading
import time

from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxltieclient import DetectionCallback, TieClient

config_path, count = sys.argv[1], int(sys.argv[2])
state = {"seen": 0, "last": 0.0}
done = threading.Event()


class Counter(DetectionCallback):
    def on_detection(self, detection_dict, original_event):
        state["seen"] += 1
        state["last"] = time.time()
        if state["seen"] >= count:
            done.set()


with DxlClient(DxlClientConfig.create_dxl_config_from_file(config_path)) as client:
    client.connect()
    TieClient(client).add_file_detection_callback(Counter())
    print("READY", flush=True)
    while not done.wait(1.0):
        if state["seen"] and time.time() - state["last"] > 5:
            break
    print("SEEN %d LAST %.6f" % (state["seen"], state["last"]), flush=True)
