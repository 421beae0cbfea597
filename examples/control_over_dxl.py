#!/usr/bin/env python3
"""Loads more knowledge into a running tiesim over DXL (no HTTP port needed).

usage: control_over_dxl.py DXLCLIENT_CONFIG SCENARIO_YAML
Prints tiesim's answer; exits 1 when tiesim answered with an error (e.g. a mistake in the YAML).
"""
import sys

from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import Message, Request

config_path, scenario_path = sys.argv[1], sys.argv[2]
with DxlClient(DxlClientConfig.create_dxl_config_from_file(config_path)) as client:
    client.connect()
    req = Request("/tiesim/control/load"); req.payload = open(scenario_path).read().encode()
    res = client.sync_request(req)
    if res.message_type == Message.MESSAGE_TYPE_ERROR:
        print("error: " + res.error_message)
        sys.exit(1)
    print(res.payload.decode())
