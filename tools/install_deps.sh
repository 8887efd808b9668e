#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages flame builds against. Idempotent: quiet and fast when
# everything is already there. The CUDA toolkit is not installed here (it lives in
# /usr/local/cuda when present; without it the CPU backend alone is built).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev   # CPU GEMMs (CBLAS), sharing OpenMP's thread pool
  libyaml-cpp-dev          # run configs, task cards, presets
  nlohmann-json3-dev       # metrics.jsonl, summaries
  libcli11-dev             # command line
  libgtest-dev             # tests
  libsentencepiece-dev     # tokenizer (data pipeline)
  libhdf5-dev              # token shards (data pipeline)
  zlib1g-dev               # gzip / tar.gz raw datasets
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install_deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
