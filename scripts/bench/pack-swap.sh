#!/usr/bin/env bash
# pack-swap.sh - time to make a ~100 MB pack ready through the pack cache's
# load path (GGUF open + hyper-parameters + stack load on the CPU backend +
# prefault of the mapping: the weights are in RAM afterwards), cold (the
# file's pages dropped from the page cache) and warm, against a raw read of
# the same file in the same run: `cat FILE >/dev/null`, `dd bs=1M` and a
# plain read() loop inside the benchmark process. Runs are interleaved
# (cat, dd, read, ready per repetition) so drifts hit all alike; medians are
# reported with the ratios ready / cat, ready / dd and ready / read (target
# <= 1.2). The pack is a synthetic SmolLM2-shaped GGUF (`gguf synth`, random
# Q4_1 weights, 32 blocks) written once under the build directory.
#
# Cold: per-file `posix_fadvise(DONTNEED)` (and `dd iflag=nocache` for the
# shell tools), checked with fincore; this evicts only this file, so other
# processes on a shared machine keep their caches. --drop-all uses
# `sync; echo 3 > /proc/sys/vm/drop_caches` instead (root only).
#
#   scripts/bench/pack-swap.sh [--reps 7] [--build build] [--drop-all]
# Writes scripts/bench/results/pack-swap.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REPS=7
BUILD=$ROOT/build
DROP_ALL=0
while (($#)); do
    case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --build) BUILD=$(realpath "$2"); shift 2 ;;
    --drop-all) DROP_ALL=1; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "pack-swap.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
BIN=$BUILD/modularbase
DRV=$BUILD/tests/bench_pack_swap
for f in "$BIN" "$DRV"; do
    [ -x "$f" ] || { echo "pack-swap.sh: build first ($f missing)" >&2; exit 1; }
done
if ((DROP_ALL)) && [ "$(id -u)" != 0 ]; then
    echo "pack-swap.sh: --drop-all needs root" >&2
    exit 1
fi
MODEL=$("$ROOT/scripts/fetch-model.sh")

W=$BUILD/bench-pack-swap
PACK=$W/pack.gguf
mkdir -p "$W"
if [ ! -s "$PACK" ]; then
    "$BIN" gguf synth --shape smollm2 --layers 32 --tokenizer "$MODEL" "$PACK" 2>/dev/null
fi
BYTES=$(stat -c %s "$PACK")

drop() {
    if ((DROP_ALL)); then
        sync
        echo 3 >/proc/sys/vm/drop_caches
    else
        dd if="$PACK" iflag=nocache count=0 status=none
    fi
}
cached_pages() { fincore -nb -o RES "$PACK" 2>/dev/null | tr -d ' ' || echo "?"; }
# seconds between two EPOCHREALTIME readings (no fork for the clock)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# the first number of the driver's "<mode>_s" list
drv() { "$DRV" "$PACK" --reps 1 --mode "$1" ${2:+"$2"} | python3 -c "import json,sys; print(json.load(sys.stdin)['$1_s'][0])"; }

cold_cat=() cold_dd=() cold_read=() cold_ready=() warm_cat=() warm_dd=() warm_read=() warm_ready=()
drop
left=$(cached_pages)
cold_ok=true
[ "$left" = 0 ] || cold_ok=false
for ((r = 1; r <= REPS; r++)); do
    drop
    t0=$EPOCHREALTIME
    cat "$PACK" >/dev/null
    t1=$EPOCHREALTIME
    cold_cat+=("$(elapsed "$t0" "$t1")")
    drop
    t0=$EPOCHREALTIME
    dd if="$PACK" of=/dev/null bs=1M status=none
    t1=$EPOCHREALTIME
    cold_dd+=("$(elapsed "$t0" "$t1")")
    ((DROP_ALL)) && drop
    cold_read+=("$(drv cold --raw)")
    ((DROP_ALL)) && drop
    cold_ready+=("$(drv cold)")

    cat "$PACK" >/dev/null # warm
    t0=$EPOCHREALTIME
    cat "$PACK" >/dev/null
    t1=$EPOCHREALTIME
    warm_cat+=("$(elapsed "$t0" "$t1")")
    t0=$EPOCHREALTIME
    dd if="$PACK" of=/dev/null bs=1M status=none
    t1=$EPOCHREALTIME
    warm_dd+=("$(elapsed "$t0" "$t1")")
    warm_read+=("$(drv warm --raw)")
    warm_ready+=("$(drv warm)")
done

mcc=$(median "${cold_cat[@]}") mcd=$(median "${cold_dd[@]}") mcr=$(median "${cold_read[@]}")
mcy=$(median "${cold_ready[@]}") mwc=$(median "${warm_cat[@]}") mwd=$(median "${warm_dd[@]}")
mwr=$(median "${warm_read[@]}") mwy=$(median "${warm_ready[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
mbs() { awk -v s="$1" -v n="$BYTES" 'BEGIN { printf "%.0f", n / s / 1e6 }'; }
json_list() { local IFS=,; echo "[$*]"; }

mkdir -p "$ROOT/scripts/bench/results"
OUT=$ROOT/scripts/bench/results/pack-swap.json
cat >"$OUT" <<EOF
{
  "benchmark": "pack-swap",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "host": "$(uname -n)",
  "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
  "pack_bytes": $BYTES,
  "reps": $REPS,
  "cold_method": "$( ((DROP_ALL)) && echo drop_caches || echo per-file posix_fadvise DONTNEED)",
  "cold_verified_by_fincore": $cold_ok,
  "ready": "get through the pack cache: GGUF open + hparams + stack load (CPU) + prefault",
  "cold": {
    "cat_s": $mcc, "dd_s": $mcd, "read_s": $mcr, "ready_s": $mcy,
    "ready_mb_s": $(mbs "$mcy"), "cat_mb_s": $(mbs "$mcc"),
    "ratio_ready_cat": $(ratio "$mcy" "$mcc"), "ratio_ready_dd": $(ratio "$mcy" "$mcd"),
    "ratio_ready_read": $(ratio "$mcy" "$mcr"),
    "all": {"cat": $(json_list "${cold_cat[@]}"), "dd": $(json_list "${cold_dd[@]}"),
            "read": $(json_list "${cold_read[@]}"), "ready": $(json_list "${cold_ready[@]}")}
  },
  "warm": {
    "cat_s": $mwc, "dd_s": $mwd, "read_s": $mwr, "ready_s": $mwy,
    "ready_mb_s": $(mbs "$mwy"), "cat_mb_s": $(mbs "$mwc"),
    "ratio_ready_cat": $(ratio "$mwy" "$mwc"), "ratio_ready_dd": $(ratio "$mwy" "$mwd"),
    "ratio_ready_read": $(ratio "$mwy" "$mwr"),
    "all": {"cat": $(json_list "${warm_cat[@]}"), "dd": $(json_list "${warm_dd[@]}"),
            "read": $(json_list "${warm_read[@]}"), "ready": $(json_list "${warm_ready[@]}")}
  }
}
EOF
python3 -m json.tool "$OUT" >/dev/null
echo "pack-swap: $BYTES bytes; cold: ready ${mcy}s vs cat ${mcc}s, dd ${mcd}s, read ${mcr}s" \
    "($(ratio "$mcy" "$mcc")x cat); warm: ready ${mwy}s vs cat ${mwc}s, dd ${mwd}s, read ${mwr}s" \
    "($(ratio "$mwy" "$mwc")x cat)"
echo "wrote $OUT"
