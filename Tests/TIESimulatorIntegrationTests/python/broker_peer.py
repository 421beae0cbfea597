#!/usr/bin/env python3
"""The unmodified Python dxlclient 5.7.0.1 against tiesim's DXL broker: services, requesters and the
broker's own services. Prints JSON lines (sort_keys) for the Swift tests.

  services CONFIG TOPIC N     N clients, each registering one service on TOPIC that answers with its
                              index; prints READY {"guids": [...]}; then reads commands from stdin:
                              "counts", "unsubscribe K", "quit"
  ask CONFIG TOPIC N [SERVICE_ID] [TIMEOUT]
                              N sync requests; prints {"answers": {payload: count}, "errors": [...],
                              "max_error_elapsed": s}
  tie CONFIG                  a TIE service of its own (the six topics): every answer says "python-tie"
  broker CONFIG TOPIC         asks the broker services and prints what came back
  persistent CONFIG TOPIC     a (dxlclient's) paho MQTT client with a persistent session subscribes to TOPIC, leaves and
                              comes back without subscribing; prints the broker's subscriber counts of
                              TOPIC (with it away and back) and whether an event reached it
"""
import json
import os
import sys
import threading
import time

from dxlclient.message import ErrorResponse, Message, Request, Response
from dxlclient.callbacks import RequestCallback
from dxlclient.service import ServiceRegistrationInfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "DXLIntegrationTests", "python"))
from dxl_peer import client_for, out  # noqa: E402

TIE_TOPICS = ["/mcafee/service/tie/file/reputation", "/mcafee/service/tie/file/reputation/set", "/mcafee/service/tie/file/agents",
              "/mcafee/service/tie/cert/reputation", "/mcafee/service/tie/cert/reputation/set", "/mcafee/service/tie/cert/agents"]


def services(config_path, topic, count):
    count = int(count)
    clients, infos, handled = [], [], [0] * count
    lock = threading.Lock()
    for index in range(count):
        client = client_for(config_path)
        client.connect()

        class Answer(RequestCallback):
            def __init__(self, client, index):
                super().__init__()
                self.client, self.index = client, index

            def on_request(self, request):
                with lock:
                    handled[self.index] += 1
                response = Response(request)
                response.payload = str(self.index).encode()
                self.client.send_response(response)

        info = ServiceRegistrationInfo(client, "/tiesim/test/replica")
        info.add_topic(topic, Answer(client, index))
        client.register_service_sync(info, 10)
        clients.append(client)
        infos.append(info)
    out({"ready": True, "guids": [info.service_id for info in infos]})
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] == "counts":
            with lock:
                out({"counts": list(handled)})
        elif command[0] == "unsubscribe":
            clients[int(command[1])].unsubscribe(topic)
            out({"unsubscribed": int(command[1])})
    for client in clients:
        client.destroy()


def ask(config_path, topic, count, service_id="", timeout="10"):
    answers, errors, error_elapsed = {}, [], []
    with client_for(config_path) as client:
        client.connect()
        for _ in range(int(count)):
            request = Request(topic)
            request.payload = b"{}"
            if service_id:
                request.service_id = service_id
            start = time.time()
            response = client.sync_request(request, float(timeout))
            if response.message_type == Message.MESSAGE_TYPE_ERROR:
                errors.append({"code": response.error_code, "message": response.error_message, "service_id": response.service_id})
                error_elapsed.append(time.time() - start)
            else:
                key = response.payload.decode()
                answers[key] = answers.get(key, 0) + 1
    out({"answers": answers, "errors": errors, "max_error_elapsed": max(error_elapsed) if error_elapsed else 0})


def tie(config_path):
    with client_for(config_path) as client:
        client.connect()

        class Answer(RequestCallback):
            def on_request(self, request):
                response = Response(request)
                response.payload = json.dumps({"server": "python-tie", "props": {"serverTime": 1}, "reputations": [
                    {"providerId": 1, "trustLevel": 99, "createDate": 1, "attributes": {}}]}).encode()
                client.send_response(response)

        info = ServiceRegistrationInfo(client, "/mcafee/service/tie")
        for topic in TIE_TOPICS:
            info.add_topic(topic, Answer())
        client.register_service_sync(info, 10)
        out({"ready": True, "guid": info.service_id})
        sys.stdin.read()


def broker(config_path, topic):
    def ask_broker(client, service_topic, body):
        request = Request(service_topic)
        request.payload = json.dumps(body).encode()
        response = client.sync_request(request, 10)
        if response.message_type == Message.MESSAGE_TYPE_ERROR:
            return {"error_code": response.error_code, "error_message": response.error_message}
        return {"payload": json.loads(response.payload.decode()), "source_broker_id": response.source_broker_id}

    with client_for(config_path) as client:
        client.connect()
        client.subscribe(topic)
        result = {
            "client_id": client.config._client_id,
            "brokers": ask_broker(client, "/mcafee/service/dxl/brokerregistry/query", {}),
            "topics": ask_broker(client, "/mcafee/service/dxl/brokerregistry/topicquery", {"topics": [topic]}),
            "subs": ask_broker(client, "/mcafee/service/dxl/broker/subs", {"topic": topic}),
            "health": ask_broker(client, "/mcafee/service/dxl/broker/health", {}),
            "me": ask_broker(client, "/mcafee/service/dxl/clientregistry/query", {"clientGuid": client.config._client_id}),
            "nobody": ask_broker(client, "/mcafee/service/dxl/clientregistry/query", {"clientGuid": "{not-connected}"}),
        }
        out(result)


def persistent(config_path, topic):
    import pahoproxy.client as mqtt  # the paho client dxlclient ships
    from dxlclient.client_config import DxlClientConfig
    from dxlclient.message import Event

    config = DxlClientConfig.create_dxl_config_from_file(config_path)
    target = config.brokers[0]
    received = threading.Event()
    connected = threading.Event()

    def session():
        mqttc = mqtt.Client(client_id="tiesim-persistent-session", clean_session=False)
        mqttc.tls_set(ca_certs=config.broker_ca_bundle, certfile=config.cert_file, keyfile=config.private_key)
        mqttc.on_connect = lambda *_: connected.set()
        mqttc.on_message = lambda *_: received.set()
        connected.clear()
        mqttc.connect(target.host_name, target.port)
        mqttc.loop_start()
        if not connected.wait(10):
            raise RuntimeError("no CONNACK")
        return mqttc

    def count(client):
        request = Request("/mcafee/service/dxl/broker/subs")
        request.payload = json.dumps({"topic": topic}).encode()
        return json.loads(client.sync_request(request, 10).payload.decode())["count"]

    with client_for(config_path) as client:
        client.connect()
        first = session()
        subscribed = threading.Event()
        first.on_subscribe = lambda *_: subscribed.set()
        first.subscribe(topic)
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK")
        result = {"subscribed": count(client)}
        first.disconnect()
        first.loop_stop()
        result["away"] = count(client)
        back = session()  # no SUBSCRIBE: mosquitto restores the session's subscriptions
        result["back"] = count(client)
        client.send_event(Event(topic))
        result["received"] = received.wait(10)
        back.disconnect()
        back.loop_stop()
        out(result)


if __name__ == "__main__":
    commands = {"services": services, "ask": ask, "tie": tie, "broker": broker, "persistent": persistent}
    commands[sys.argv[1]](*sys.argv[2:])
