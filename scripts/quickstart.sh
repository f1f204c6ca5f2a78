#!/usr/bin/env bash
# quickstart.sh - the README's main command: on a fresh Debian 12 machine it
# installs dependencies, builds modularbase, fetches the real model
# (SmolLM2-135M-Instruct) and shows what modularbase does with it: inspects the
# file, answers a question and holds a short chat with it.
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

# The runtime: one answer, then a two-turn chat over a pipe (greedy, so the output is
# the same on every run; `modularbase chat -m MODEL` without a pipe is interactive).
echo
echo "==> modularbase run -m $MODEL -p 'What is the capital of France?' --temp 0"
"$MB" run -m "$MODEL" -p "What is the capital of France?" --temp 0 -n 64
echo
echo "==> printf 'Hi! Who are you?\\nWrite a haiku about the sea.\\n' | modularbase chat -m $MODEL --temp 0 -n 64 --verbose"
printf 'Hi! Who are you?\nWrite a haiku about the sea.\n' |
    "$MB" chat -m "$MODEL" --temp 0 -n 64 --verbose
