#!/usr/bin/env bash
# Runs every test: the Swift unit tests, and the integration tests that start real mosquitto brokers
# and drive the unmodified Python dxlclient/dxltieclient. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
