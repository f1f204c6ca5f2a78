#!/usr/bin/env bash
# download.sh - benchmark fetching and verifying a large pack from a local
# nginx: `modularbase registry download` (signature fetched first, archive
# hashed with SHA-256 and BLAKE2b on helper threads while it arrives, then the
# signature checked) against the standard tools doing the same work in the
# same run: `curl -o` of the archive and its .minisig, then `sha256sum`, then
# `minisign -V`. Median of N runs each, warm page cache on the server side,
# cache emptied before each of our runs. Target: ours <= 1.1x theirs.
# Writes scripts/bench/results/download.json; deletes its files at the end.
#
#   scripts/bench/download.sh [--size-mb 1024] [--runs 3] [--bin build/modularbase]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MB=1024
RUNS=3
BIN=$ROOT/build/modularbase
while (($#)); do
    case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --bin) BIN=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "download.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for t in minisign curl sha256sum python3 nginx; do
    command -v "$t" >/dev/null || { echo "download.sh: $t is required" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "download.sh: build first ($BIN missing)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/mbbench.XXXXXX")
_hooks=()
at_exit() { _hooks+=("$1"); }
cleanup() {
    local h
    for h in "${_hooks[@]+"${_hooks[@]}"}"; do eval "$h" || true; done
    rm -rf "$T"
}
trap cleanup EXIT
export MODULARBASE_HOME=$T/home NO_COLOR=1
. "$ROOT/tests/integration/nginx.sh"

echo "download.sh: making a ${SIZE_MB} MiB pack" >&2
"$BIN" key generate --name maint --no-password >/dev/null
"$BIN" key generate --name pub --no-password >/dev/null
python3 "$ROOT/tests/integration/helpers/make_packs.py" "$T/src" --mb "$SIZE_MB" big:1.0.0
mkdir -p "$T/dist"
"$BIN" pack build "$T/src/big-1.0.0" -o "$T/dist" --key pub >/dev/null
rm -rf "$T/src"
"$BIN" registry init "$T/www" --name bench --key maint --publisher-key pub >/dev/null
"$BIN" pack publish "$T/dist/big-1.0.0.mbpack" --registry "$T/www" --key maint >/dev/null
rm -rf "$T/dist"
ARCHIVE=$T/www/packs/big/big-1.0.0.mbpack
BYTES=$(stat -c %s "$ARCHIVE")
SHA=$(sha256sum "$ARCHIVE" | cut -d' ' -f1)
PUB=$("$BIN" key export-public --name pub --base64)
nginx_start bench "$T/www"
URL=${NGX_URL}packs/big/big-1.0.0.mbpack
"$BIN" registry add bench "$NGX_URL" --key maint >/dev/null
cat "$ARCHIVE" >/dev/null # the server reads from the page cache in both cases

now() { date +%s.%N; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ours=() theirs=()
for ((r = 1; r <= RUNS; r++)); do
    rm -rf "$MODULARBASE_HOME/cache/packs" "$MODULARBASE_HOME/cache/partial"
    sync
    t0=$(now)
    "$BIN" registry download big -q >/dev/null
    t1=$(now)
    ours+=("$(diff_s "$t1" "$t0")")
    got=$(sha256sum "$MODULARBASE_HOME"/cache/packs/big-1.0.0-*.mbpack | cut -d' ' -f1)
    [ "$got" = "$SHA" ] || { echo "download.sh: our download has the wrong hash" >&2; exit 1; }
    rm -rf "$MODULARBASE_HOME/cache/packs"

    rm -f "$T/ref.mbpack" "$T/ref.mbpack.minisig"
    sync
    t0=$(now)
    curl -sf -o "$T/ref.mbpack.minisig" "$URL.minisig"
    curl -sf -o "$T/ref.mbpack" "$URL"
    h=$(sha256sum "$T/ref.mbpack" | cut -d' ' -f1)
    [ "$h" = "$SHA" ]
    minisign -Vq -m "$T/ref.mbpack" -x "$T/ref.mbpack.minisig" -P "$PUB" >/dev/null
    t1=$(now)
    theirs+=("$(diff_s "$t1" "$t0")")
    rm -f "$T/ref.mbpack"
    echo "run $r: modularbase ${ours[-1]} s, curl+sha256sum+minisign ${theirs[-1]} s" >&2
done
mo=$(median "${ours[@]}")
mt=$(median "${theirs[@]}")
ratio=$(awk -v a="$mo" -v b="$mt" 'BEGIN { printf "%.3f", a / b }')
mbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f", b / s / 1048576 }'; }
mkdir -p "$ROOT/scripts/bench/results"
cat >"$ROOT/scripts/bench/results/download.json" <<EOF
{
  "benchmark": "download",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "host": "$(uname -n)",
  "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
  "cores": $(nproc),
  "archive_bytes": $BYTES,
  "runs": $RUNS,
  "modularbase_s": [$(IFS=,; echo "${ours[*]}")],
  "reference_s": [$(IFS=,; echo "${theirs[*]}")],
  "modularbase_median_s": $mo,
  "reference_median_s": $mt,
  "modularbase_mib_s": $(mbps "$mo"),
  "reference_mib_s": $(mbps "$mt"),
  "ratio_ours_over_reference": $ratio,
  "target_ratio": 1.1,
  "reference": "curl -o (archive + .minisig) && sha256sum && minisign -V",
  "modularbase": "modularbase registry download (fetch .minisig, fetch archive hashing sha256+blake2b while receiving, verify, rename into the cache)"
}
EOF
cat "$ROOT/scripts/bench/results/download.json"
