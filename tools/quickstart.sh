#!/usr/bin/env bash
# Fresh machine -> a trained autorater: installs what is missing, builds, trains the tiny model on
# the embedded synthetic judgment tasks, evaluates it on their dev splits and prints the results.
# Running it again continues the same run (train.resume: auto): a finished run is only
# re-evaluated; `tools/quickstart.sh train.resume=never` trains it again from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
start=$(date +%s)
build/flame train configs/runs/quickstart.yaml "$@"
echo "quickstart: train + eval took $(( $(date +%s) - start )) s (build excluded); run dir: runs/quickstart/"
