#!/usr/bin/env bash
# Runs every test: the Swift unit tests, the integration tests that start real mosquitto brokers and
# drive the unmodified Python dxlclient/dxltieclient, and the pytest plugin's suite. Installs what is
# missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Each stage says how long it took; the fast unit tests (no mosquitto, no Python) run first, so that a
# broken codec, parser or routing table fails the run in seconds.
stage() {
  local name="$1"; shift
  local started=$SECONDS
  echo "== $name"
  "$@"
  echo "== $name: $((SECONDS - started)) s"
}
stage "build" swift build --build-tests
stage "unit tests (DXLTests, DXLBrokerTests, TIETests, TIESimulatorTests)" \
  swift test --skip-build --filter '^(DXLTests|DXLBrokerTests|TIETests|TIESimulatorTests)\.'
stage "integration tests (real mosquitto, the Python clients)" \
  swift test --skip-build --filter '^(DXLIntegrationTests|TIESimTestingTests|TIESimulatorIntegrationTests)\.'
# A test target not named above still runs (and so is not forgotten).
stage "other test targets" \
  swift test --skip-build --skip '^(DXLTests|DXLBrokerTests|TIETests|TIESimulatorTests|DXLIntegrationTests|TIESimTestingTests|TIESimulatorIntegrationTests)\.'
# The pytest plugin (python/), installed as users install it, with its own suite on two workers.
python3 -m pip install -q --disable-pip-version-check ./python 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages ./python
stage "pytest plugin, WebSockets, provisioning, report (python/tests)" \
  env TIESIM="$(swift build --show-bin-path)/tiesim" python3 -m pytest -q -p no:warnings -n 2 python/tests
