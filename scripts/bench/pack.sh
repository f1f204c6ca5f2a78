#!/usr/bin/env bash
# pack.sh - benchmark `pack build --sign` and `pack verify --key` on a 500 MB pack
# against the standard tools doing the same work on the same data in the same
# run: build = `tar --zstd -cf` + `sha256sum` of the inputs + `minisign -S`;
# verify = `minisign -V` + `tar --zstd -xf` + `sha256sum -c`. Median of N runs
# each, warm page cache. Writes scripts/bench/results/pack.json.
#
#   scripts/bench/pack.sh [--size-mb 500] [--runs 3] [--bin build/modularbase]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MB=500
RUNS=3
BIN=$ROOT/build/modularbase
while (($#)); do
    case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --bin) BIN=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "pack.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for t in minisign zstd tar sha256sum python3; do
    command -v "$t" >/dev/null || { echo "pack.sh: $t is required" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "pack.sh: build first ($BIN missing)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/mbbench.XXXXXX")
trap 'rm -rf "$W"' EXIT
export MODULARBASE_HOME=$W/home NO_COLOR=1

# The data: a pack whose GGUF holds SIZE_MB of random float32 (incompressible,
# like quantized weights), written by gguf-py.
"$BIN" pack init "$W/pack" --id bench --domain benchmark --license MIT >/dev/null
python3 "$ROOT/tests/integration/helpers/make_pack_gguf.py" "$W/pack/weights/bench.gguf" \
    --id bench --version 0.1.0 --tensor-mb "$SIZE_MB"
BYTES=$(du -cb "$W/pack/pack.yaml" "$W/pack/README.md" "$W/pack/LICENSE" "$W/pack/weights/bench.gguf" | tail -1 | cut -f1)
"$BIN" key generate --no-password --name bench >/dev/null
minisign -G -W -p "$W/mini.pub" -s "$W/mini.key" >/dev/null 2>&1
cat "$W/pack/weights/bench.gguf" >/dev/null # warm the page cache
mkdir "$W/out"

now() { date +%s.%N; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# median of a list of numbers
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ours_build=() ours_verify=() theirs_build=() theirs_verify=()
for ((r = 1; r <= RUNS; r++)); do
    t0=$(now)
    "$BIN" pack build "$W/pack" -o "$W/out" --key bench >/dev/null
    t1=$(now)
    "$BIN" pack verify "$W/out/bench-0.1.0.mbpack" --key bench >/dev/null
    t2=$(now)
    ours_build+=("$(diff_s "$t1" "$t0")")
    ours_verify+=("$(diff_s "$t2" "$t1")")

    rm -rf "$W/x" "$W/ref.tar.zst"*
    t0=$(now)
    (cd "$W/pack" && sha256sum pack.yaml README.md LICENSE weights/bench.gguf >"$W/SHA256SUMS")
    tar --zstd -cf "$W/ref.tar.zst" -C "$W/pack" pack.yaml README.md LICENSE weights
    minisign -S -s "$W/mini.key" -m "$W/ref.tar.zst" >/dev/null
    t1=$(now)
    minisign -Vm "$W/ref.tar.zst" -p "$W/mini.pub" >/dev/null
    mkdir "$W/x"
    tar --zstd -xf "$W/ref.tar.zst" -C "$W/x"
    (cd "$W/x" && sha256sum -c --quiet "$W/SHA256SUMS")
    t2=$(now)
    theirs_build+=("$(diff_s "$t1" "$t0")")
    theirs_verify+=("$(diff_s "$t2" "$t1")")
done

ob=$(median "${ours_build[@]}")
ov=$(median "${ours_verify[@]}")
tb=$(median "${theirs_build[@]}")
tv=$(median "${theirs_verify[@]}")
ours_size=$(stat -c %s "$W/out/bench-0.1.0.mbpack")
ref_size=$(stat -c %s "$W/ref.tar.zst")
mkdir -p "$ROOT/scripts/bench/results"
OUT=$ROOT/scripts/bench/results/pack.json
python3 - "$OUT" <<PY
import json, sys, platform, os
mb = $BYTES / 1e6
r = {
  "benchmark": "pack build --sign / pack verify --key",
  "input_bytes": $BYTES, "runs": $RUNS,
  "cpu": next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()),
  "cores": os.cpu_count(),
  "ours": {"build_s": $ob, "verify_s": $ov, "build_MBps": mb/$ob, "verify_MBps": mb/$ov,
           "archive_bytes": $ours_size},
  "reference": {"build_tools": "sha256sum + tar --zstd -cf + minisign -S",
                "verify_tools": "minisign -V + tar --zstd -xf + sha256sum -c",
                "build_s": $tb, "verify_s": $tv, "build_MBps": mb/$tb, "verify_MBps": mb/$tv,
                "archive_bytes": $ref_size},
  "speedup_build": $tb/$ob, "speedup_verify": $tv/$ov,
  "speedup_total": ($tb+$tv)/($ob+$ov),
}
json.dump(r, open(sys.argv[1], "w"), indent=2)
print(json.dumps(r, indent=2))
PY
