#!/usr/bin/env bash
# Runs every test: the Swift unit tests, the integration tests that start real mosquitto brokers and
# drive the unmodified Python dxlclient/dxltieclient, and the pytest plugin's suite. Installs what is
# missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
# The pytest plugin (python/), installed as users install it, with its own suite on two workers.
python3 -m pip install -q --disable-pip-version-check ./python 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages ./python
TIESIM="$(swift build --show-bin-path)/tiesim" python3 -m pytest -q -p no:warnings -n 2 python/tests
