#!/usr/bin/env python3
"""The unmodified Python dxlclient 5.7.0.1 as a peer of tiesim's Swift tests.

Each subcommand does one thing with the real client and reports on stdout, one JSON value or
marker per line, so the Swift side can assert on exactly what Python saw and sent.
"""
import binascii
import json
import faulthandler
import sys
import threading
import time

from dxlclient.callbacks import EventCallback, RequestCallback
from dxlclient.client import DxlClient
from dxlclient.client_config import DxlClientConfig
from dxlclient.message import ErrorResponse, Event, Message, Request, Response
from dxlclient.service import ServiceRegistrationInfo

TYPES = {"request": Request, "response": Response, "event": Event, "errorResponse": ErrorResponse}
TYPE_NAMES = {0: "request", 1: "response", 2: "event", 3: "errorResponse"}


def out(value):
    sys.stdout.write((value if isinstance(value, str) else json.dumps(value, sort_keys=True)) + "\n")
    sys.stdout.flush()


def build(spec):
    kind = spec["type"]
    if kind == "request" or kind == "event":
        message = TYPES[kind](spec.get("topic", ""))
    else:
        message = TYPES[kind](None)
    message._message_id = spec["message_id"]
    message._source_client_id = spec.get("source_client_id", "")
    message._source_broker_id = spec.get("source_broker_id", "")
    message.broker_ids = spec.get("broker_ids", [])
    message.client_ids = spec.get("client_ids", [])
    message.payload = binascii.unhexlify(spec.get("payload_hex", ""))
    if kind == "request":
        message.reply_to_topic = spec.get("reply_to_topic")
        message.service_id = spec.get("service_id", "")
    if kind in ("response", "errorResponse"):
        message._request_message_id = spec.get("request_message_id")
        message._service_id = spec.get("service_id", "")
    if kind == "errorResponse":
        message._error_code = spec["error_code"]
        message._error_message = spec.get("error_message", "")
    message.other_fields = dict(spec.get("other_fields", []))
    message.source_tenant_guid = spec.get("source_tenant_guid", "")
    message.destination_tenant_guids = spec.get("destination_tenant_guids", [])
    return message


def describe(message):
    result = {
        "version": message.version,
        "type": TYPE_NAMES[message.message_type],
        "message_id": message.message_id,
        "source_client_id": message.source_client_id,
        "source_broker_id": message.source_broker_id,
        "broker_ids": message.broker_ids,
        "client_ids": message.client_ids,
        "payload_hex": binascii.hexlify(message.payload).decode(),
        "other_fields": sorted([k, v] for k, v in message.other_fields.items()),
        "source_tenant_guid": message.source_tenant_guid,
        "destination_tenant_guids": message.destination_tenant_guids,
        "topic": message.destination_topic,
    }
    if isinstance(message, Request):
        result["reply_to_topic"] = message.reply_to_topic
        result["service_id"] = message.service_id
    if isinstance(message, Response):
        result["request_message_id"] = message.request_message_id
        result["service_id"] = message.service_id
    if isinstance(message, ErrorResponse):
        result["error_code"] = message.error_code
        result["error_message"] = message.error_message
    return result


def encode():
    for line in sys.stdin:
        if line.strip():
            raw = build(json.loads(line))._to_bytes
            out(binascii.hexlify(raw() if callable(raw) else raw).decode())


def decode():
    for line in sys.stdin:
        if line.strip():
            out(describe(Message._from_bytes(binascii.unhexlify(line.strip()))))


def client_for(config_path):
    config = DxlClientConfig.create_dxl_config_from_file(config_path)
    config.connect_retries = 3
    return DxlClient(config)


def listen(config_path, topic, count, timeout):
    received = []
    done = threading.Event()

    class Callback(EventCallback):
        def on_event(self, event):
            received.append(event)
            out({"topic": event.destination_topic, "message_id": event.message_id,
                 "payload_hex": binascii.hexlify(event.payload).decode()})
            if len(received) >= int(count):
                done.set()

    with client_for(config_path) as client:
        client.connect()
        client.add_event_callback(topic, Callback())
        out("READY")
        ok = done.wait(float(timeout))
    out("DONE" if ok else "TIMEOUT")
    sys.exit(0 if ok else 1)


def send_event(config_path, topic, payload):
    with client_for(config_path) as client:
        client.connect()
        event = Event(topic)
        event.payload = payload.encode()
        client.send_event(event)
        out(event.message_id)
        time.sleep(0.2)


def request(config_path, topic, payload, timeout):
    with client_for(config_path) as client:
        client.connect()
        req = Request(topic)
        req.payload = payload.encode()
        start = time.time()
        response = client.sync_request(req, timeout=float(timeout))
        result = describe(response)
        result["elapsed"] = time.time() - start
        result["sent_message_id"] = req.message_id
        out(result)


def serve(config_path, topic):
    class Echo(RequestCallback):
        def __init__(self, client):
            super(Echo, self).__init__()
            self.client = client

        def on_request(self, req):
            response = Response(req)
            response.payload = b"echo:" + req.payload
            self.client.send_response(response)

    client = client_for(config_path)
    client.connect()
    info = ServiceRegistrationInfo(client, "/tiesim/test/echo")
    info.add_topic(topic, Echo(client))
    start = time.time()
    client.register_service_sync(info, 10)
    out({"registered_in": time.time() - start})
    out("READY")
    sys.stdin.read()  # serve until the test closes our stdin
    faulthandler.dump_traceback_later(12, exit=False)  # where it hangs, should shutting down hang
    start = time.time()
    client.unregister_service_sync(info, 10)
    out({"unregistered_in": time.time() - start})  # before destroy, so a hang shows which step it was
    start = time.time()
    client.destroy()
    out({"destroyed_in": time.time() - start})


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"encode": encode, "decode": decode, "listen": listen, "send-event": send_event,
     "request": request, "serve": serve}[command](*args)
