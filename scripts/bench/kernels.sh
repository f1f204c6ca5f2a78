#!/usr/bin/env bash
# kernels.sh - micro-benchmark of the CPU matmul kernels at SmolLM2's shapes
# (576x576, 576x1536, 1536x576, and the 49152x576 Q8_0 LM head) for every
# weight type, on 1 and 2 threads: decode GB/s (weights hot in cache and cold
# from DRAM), prefill GFLOP/s (512 rows), the machine's read bandwidth and the
# thread pool's fork/join cost. Writes scripts/bench/results/kernels.json.
#
#   scripts/bench/kernels.sh [--quick] [--isa LEVEL] [--types LIST] [--out FILE]
#
# Run it on a quiet machine: it warns when the load average is above 0.5.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/scripts/bench/results/kernels.json
ARGS=()
SECONDS_PER=0.4
while (($#)); do
    case "$1" in
    --quick) SECONDS_PER=0.15 ;;
    --isa | --types) ARGS+=("$1" "$2"); shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "kernels.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done

BUILD=${MB_BENCH_BUILD:-$ROOT/build-bench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMB_CUDA=OFF >/dev/null
cmake --build "$BUILD" --target bench_kernels -j2 >/dev/null

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "kernels.sh: warning: load average is $load; figures will be low and noisy" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in 1 2; do
    echo "kernels.sh: $t thread(s)..." >&2
    "$BUILD/tests/bench_kernels" --threads "$t" --seconds "$SECONDS_PER" "${ARGS[@]}" >"$tmp/t$t.json"
done

mkdir -p "$(dirname "$OUT")"
python3 - "$tmp" "$OUT" "$load" <<'PY'
import json, platform, sys, time, os
tmp, out, load = sys.argv[1], sys.argv[2], float(sys.argv[3])
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
runs = [json.load(open(os.path.join(tmp, f"t{t}.json"))) for t in (1, 2)]
doc = {
    "benchmark": "kernels",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_start": load},
    "runs": runs,
}
json.dump(doc, open(out, "w"), indent=1)
print(f"{'type':6} {'shape':>11} {'thr':>3} {'hot GB/s':>9} {'cold GB/s':>9} {'GFLOP/s':>8} {'pp512 GFLOP/s':>13}")
for r in runs:
    for x in r["results"]:
        shape = f"{x['rows']}x{x['cols']}"
        print(f"{x['type']:6} {shape:>11} {r['threads']:>3} {x['decode_hot_gbps']:9.2f} "
              f"{x['decode_cold_gbps']:9.2f} {x['decode_hot_gflops']:8.2f} "
              f"{x.get('prefill512_gflops', 0):13.2f}")
for r in runs:
    print(f"threads {r['threads']}: read bandwidth {r['read_bandwidth_gbps']:.1f} GB/s, "
          f"fork/join {r['fork_join_ns']:.0f} ns")
print(f"wrote {out}")
PY
