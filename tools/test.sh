#!/usr/bin/env bash
# Fresh machine -> green suite: installs what is missing, builds, runs every test with ctest.
# GPU tests skip themselves when no CUDA device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh "$@"
jobs=$(nproc 2>/dev/null || echo 2)
cd build
ctest --output-on-failure -j "$jobs" --timeout 900
