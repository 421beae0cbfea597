#!/usr/bin/env python3
"""An example application under test: the dxltieclient detection sample, unmodified in substance.

Connects with a dxlclient.config written by tiesim, prints every detection as the sample does, and exits
after --count detections (0: run until interrupted). Used by README's walkthroughs, docker/compose.yaml and tiesim's tests.
"""
import argparse
import sys
import threading

from dxlbootstrap.util import MessageUtils
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxltieclient import TieClient, DetectionCallback


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None)
    args = parser.parse_args()

    seen = []
    done = threading.Event()

    class MyDetectionCallback(DetectionCallback):
        def on_detection(self, detection_dict, original_event):
            print("Detection on topic: " + original_event.destination_topic)
            print(MessageUtils.dict_to_json(detection_dict, True), flush=True)
            seen.append(detection_dict)
            if args.count and len(seen) >= args.count:
                done.set()

    config = DxlClientConfig.create_dxl_config_from_file(args.config)
    config.connect_retries = 10
    with DxlClient(config) as client:
        client.connect()
        TieClient(client).add_file_detection_callback(MyDetectionCallback())
        print("listening", flush=True)
        finished = done.wait(args.timeout)
    sys.exit(0 if finished else 1)


if __name__ == "__main__":
    main()
