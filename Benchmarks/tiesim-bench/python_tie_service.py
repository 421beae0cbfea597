#!/usr/bin/env python3
"""Baseline for tiesim-bench: a Python dxlclient service answering get_file_reputation from a dict,
as a team would write a mock TIE in Python. Serves until stdin closes."""
import base64
import binascii
import json
import sys

from dxlclient.callbacks import RequestCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import ErrorResponse, Response
from dxlclient.service import ServiceRegistrationInfo

config_path, topic, data_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(data_path) as handle:
    DATA = json.load(handle)  # {"md5:<hex>": reputations list}


class Lookup(RequestCallback):
    def __init__(self, client):
        super(Lookup, self).__init__()
        self.client = client

    def on_request(self, request):
        body = json.loads(request.payload.decode("utf8"))
        for entry in body.get("hashes", []):
            key = entry["type"] + ":" + binascii.hexlify(base64.b64decode(entry["value"])).decode()
            if key in DATA:
                response = Response(request)
                response.payload = json.dumps({"props": {"serverTime": 0, "submitMetaData": 1}, "reputations": DATA[key]}).encode()
                self.client.send_response(response)
                return
        self.client.send_response(ErrorResponse(request, 0, "Could not find reputation"))


config = DxlClientConfig.create_dxl_config_from_file(config_path)
with DxlClient(config) as client:
    client.connect()
    info = ServiceRegistrationInfo(client, "/bench/python/tie")
    info.add_topic(topic, Lookup(client))
    client.register_service_sync(info, 10)
    print("READY", flush=True)
    sys.stdin.read()
