#!/usr/bin/env bash
# Installs everything tiesim's build and tests need on a fresh Debian machine.
# Idempotent: safe to run again; it only installs what is missing.
#   scripts/setup.sh            build and test dependencies (what CI and the Docker build stage run)
#   scripts/setup.sh --runtime  only what a built tiesim needs to run (the Docker runtime stage)
set -euo pipefail

MODE="${1:-all}"
case "$MODE" in
  all|--all) MODE=all; APT_PACKAGES=(mosquitto mosquitto-dev libmosquitto-dev libssl-dev python3-pip pkg-config curl chromium) ;;
  --runtime) MODE=runtime; APT_PACKAGES=(mosquitto libmosquitto1 libssl3 libstdc++6) ;;
  *) echo "usage: scripts/setup.sh [--runtime]" >&2; exit 64 ;;
esac
PIP_PACKAGES=(dxlclient==5.7.0.1 dxltieclient==0.3.0 pytest==9.0.3 pytest-xdist==3.6.1)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# A packaged mosquitto starts a system broker on port 1883; tiesim starts its own brokers,
# so stop that one to keep the machine quiet (ignored where no init system runs).
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi

if [ "$MODE" = runtime ]; then
  echo "setup: ok (runtime: mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), libmosquitto1)"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" - <<'PY' 2>/dev/null
import importlib.metadata as m
assert m.version("dxlclient") == "5.7.0.1"
assert m.version("dxltieclient") == "0.3.0"
assert m.version("pytest") == "9.0.3"
assert m.version("pytest-xdist") == "3.6.1"
PY
then
  echo "setup: installing pip packages: ${PIP_PACKAGES[*]}"
  "$PYTHON" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" \
    || "$PYTHON" -m pip install -q --disable-pip-version-check --break-system-packages "${PIP_PACKAGES[@]}"
fi

echo "setup: ok (mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), dxlclient 5.7.0.1, dxltieclient 0.3.0, pytest 9.0.3, pytest-xdist 3.6.1)"
