"""A pytest suite for an application built on dxltieclient, against a fake TIE fabric.

    pip install -e ./python && python3 -m pytest examples/test_with_tiesim.py
"""
import threading

import pytest
from dxltieclient import DetectionCallback, TieClient


@pytest.mark.tiesim(scenarios=["scenarios/reputation-lifecycle.yaml"])
def test_lookup_and_detection(tie_fabric):
    tie = TieClient(tie_fabric.client())
    detected = threading.Event()

    class OnDetection(DetectionCallback):
        def on_detection(self, detection_dict, original_event):
            detected.set()

    tie.add_file_detection_callback(OnDetection())
    tie_fabric.load("files:\n  TOOL.EXE:\n    md5: 00112233445566778899aabbccddeeff\n    reputations: {GTI: KNOWN_TRUSTED}\n")
    assert tie.get_file_reputation({"md5": "00112233445566778899aabbccddeeff"})[1]["trustLevel"] == 99
    tie_fabric.play("timeline:\n  - detection: {file: TOOL.EXE}\n")
    assert detected.wait(10)
    tie_fabric.verify("expect:\n  - event: detection\n  - request: get_file_reputation\n").assert_passed()
