#!/usr/bin/env python3
"""A tiny application under test: on each detection it looks the file up and, when TIE does not trust
it, convicts it with a 'quarantine' comment — written with the unmodified dxltieclient."""
import sys
import time

from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxltieclient import DetectionCallback, TieClient
from dxltieclient.constants import HashType, TrustLevel

# usage: quarantine_app.py DXLCLIENT_CONFIG [COMMENT]
config_path = sys.argv[1]
comment = sys.argv[2] if len(sys.argv) > 2 else "quarantine"
handled = []

with DxlClient(DxlClientConfig.create_dxl_config_from_file(config_path)) as client:
    client.connect()
    tie = TieClient(client)

    class Quarantine(DetectionCallback):
        def on_detection(self, detection_dict, original_event):
            handled.append(detection_dict)

    tie.add_file_detection_callback(Quarantine())
    print("READY", flush=True)
    deadline = time.time() + 30
    while not handled and time.time() < deadline:
        time.sleep(0.05)
    for detection in handled:
        hashes = {HashType.MD5: detection["hashes"]["md5"], HashType.SHA1: detection["hashes"]["sha1"]}
        reputations = tie.get_file_reputation(hashes)
        if reputations.get(1, {}).get("trustLevel", 0) < TrustLevel.MIGHT_BE_TRUSTED:
            tie.set_file_reputation(TrustLevel.KNOWN_MALICIOUS, hashes, filename=detection["name"], comment=comment)
    print("HANDLED %d" % len(handled), flush=True)
