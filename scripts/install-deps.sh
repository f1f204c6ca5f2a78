#!/usr/bin/env bash
# install-deps.sh - install everything modularbase needs to build and test on
# Debian 12: compilers and -dev libraries (apt-get), the real test peers
# (minisign, nginx with WebDAV) and the Python reference packages (pip).
# Idempotent and non-interactive: does nothing when all is present.
set -euo pipefail

APT_PACKAGES=(
    build-essential cmake ninja-build pkg-config git ca-certificates curl unzip xz-utils zstd
    clang-14 libclang-rt-14-dev clang-format
    libcurl4-openssl-dev libarchive-dev libsodium-dev libyaml-dev libjansson-dev
    libpcre2-dev libcmocka-dev libzstd-dev
    minisign nginx-full python3 python3-pip nodejs node-semver
)
PIP_PACKAGES=(gguf==0.19.0 numpy jinja2)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    SUDO=
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian nginx package starts a system-wide server; tests run their own.
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || $SUDO service nginx stop >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import gguf, numpy, jinja2; assert gguf.__version__ if hasattr(gguf, "__version__") else True' 2>/dev/null; then
    echo "install-deps: pip installing ${PIP_PACKAGES[*]}"
    "$PY" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" 2>/dev/null ||
        "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${PIP_PACKAGES[@]}"
fi
