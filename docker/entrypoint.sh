#!/bin/sh
# The container's entry point: `tiesim up` listening on all interfaces, writing the client configuration
# and certificates to the mounted /fabric volume with the address clients outside the container use.
# Arguments are the scenario files to play (default: every /scenarios/*.yaml); each setting can be
# changed with an environment variable. The tests run this script outside Docker with these variables.
set -eu

TIESIM="${TIESIM_BIN:-tiesim}"
STATE="${TIESIM_STATE_DIR:-/fabric}"
HOST="${TIESIM_HOST:-0.0.0.0}"
PORT="${TIESIM_PORT:-8883}"
HTTP_PORT="${TIESIM_HTTP_PORT:-8080}"
WEBSOCKET_PORT="${TIESIM_WEBSOCKET_PORT:-8443}"
# The client provisioning service (dxlclient provisionconfig) runs when a user name is given.
MANAGEMENT_PORT="${TIESIM_MANAGEMENT_PORT:-8444}"
# Clients try the host name first, then the IP address: with the defaults, an application container in the
# same compose project reaches "tiesim", and a client on the Docker host falls back to 127.0.0.1 (the
# published port).
ADVERTISE_HOST="${TIESIM_ADVERTISE_HOST:-tiesim}"
ADVERTISE_IP="${TIESIM_ADVERTISE_IP:-127.0.0.1}"

if [ "$#" -eq 0 ]; then
  set -- "${TIESIM_SCENARIOS:-/scenarios}"/*.yaml
fi

# `tiesim up` writes $STATE/ready once clients can connect (the health check and the example application
# wait for it) and stops everything it started on SIGTERM (docker stop) or SIGINT.
exec "$TIESIM" up "$@" --state-dir "$STATE" --host "$HOST" --port "$PORT" \
  --advertise-host "$ADVERTISE_HOST" --advertise-ip "$ADVERTISE_IP" \
  --http-host "$HOST" --http-port "$HTTP_PORT" --websocket-port "$WEBSOCKET_PORT" ${TIESIM_BROKERS:+--brokers "$TIESIM_BROKERS"} \
  ${TIESIM_MANAGEMENT_USER:+--management-port "$MANAGEMENT_PORT" --management-user "$TIESIM_MANAGEMENT_USER" --management-password "${TIESIM_MANAGEMENT_PASSWORD:-}"}
