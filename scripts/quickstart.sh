#!/usr/bin/env bash
# quickstart.sh - the README's main command: on a fresh Debian 12 machine it
# installs dependencies, builds modularbase, fetches the real model
# (SmolLM2-135M-Instruct) and shows what modularbase does with it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
MB=$PWD/build/modularbase
MODEL=$(scripts/fetch-model.sh)

echo
echo "==> modularbase gguf inspect $MODEL"
"$MB" gguf inspect "$MODEL"
