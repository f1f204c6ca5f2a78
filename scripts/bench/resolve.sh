#!/usr/bin/env bash
# resolve.sh - resolver benchmark (docs/performance.md "Resolver"). Generates
# two registries with scripts/bench/gen_resolve.py and times
# `modularbase resolve` on them:
#   (a) 10,000 packs x 20 versions, random dependency DAG, a 20-pack request
#       (targets: < 20 ms of solving);
#   (b) pubgrub-rs issue #135: foo has 500 versions that all fail (target < 200 ms).
# When `uv` is on PATH (pip install uv), the same problems are written as
# minimal wheels and timed with `uv pip compile --no-index --find-links` in the
# same run, and the ratio is reported. Writes scripts/bench/results/resolve.json.
#
#   scripts/bench/resolve.sh [--runs N] [--no-uv]     (MB_BIN overrides the binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=7
USE_UV=1
while (($#)); do
    case "$1" in
    --runs) RUNS=$2; shift ;;
    --no-uv) USE_UV=0 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "resolve.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
MB=${MB_BIN:-$ROOT/build/modularbase}
if [ ! -x "$MB" ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j2 --target modularbase
fi
WORK=${MB_BENCH_DIR:-$ROOT/build/bench-resolve}
mkdir -p "$WORK" scripts/bench/results
PY=${PYTHON:-python3}
have_uv=0
UV=
if ((USE_UV)); then
    # The real binary, not a pyenv shim (a shim adds ~150 ms per call).
    UV=$("$PY" -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null || command -v uv || true)
    [ -n "$UV" ] && have_uv=1
fi
UV_PY=$("$PY" -c 'import sys; print(sys.executable)')

gen() { # name args...
    local name=$1
    shift
    if [ ! -f "$WORK/$name/request.txt" ]; then
        rm -rf "$WORK/$name" "$WORK/$name-wheels"
        echo "generating $name..." >&2
        local w=()
        ((have_uv)) && w=(--wheels "$WORK/$name-wheels")
        "$PY" scripts/bench/gen_resolve.py "$@" "$WORK/$name" "${w[@]}" >&2
    fi
}
gen large large --packs 10000 --versions 20 --seed 1
gen patho pathological --versions 500

# run_mb NAME: median solve/load/wall over RUNS runs, as a JSON object.
run_mb() {
    local name=$1 i
    local req
    req=$(cat "$WORK/$name/request.txt")
    for ((i = 0; i < RUNS; i++)); do
        local t0 t1
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        "$MB" resolve --json --index-dir "$WORK/$name" $req >"$WORK/$name.out" 2>/dev/null || true
        t1=$(date +%s%N)
        "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["stats"]
print(s["solve_ms"], s["load_ms"], (int(sys.argv[2])-int(sys.argv[3]))/1e6, d.get("error","ok"), len(d.get("packs",[])), s["decisions"], s["conflicts"], s["packages_loaded"])' \
            "$WORK/$name.out" "$t1" "$t0"
    done | "$PY" -c '
import json, statistics, sys
rows = [l.split() for l in sys.stdin]
med = lambda k: statistics.median(float(r[k]) for r in rows)
r0 = rows[0]
print(json.dumps({"total_ms": med(0), "index_load_ms": med(1), "solver_ms": round(med(0) - med(1), 3),
                  "process_wall_ms": med(2), "result": r0[3], "packs_in_plan": int(r0[4]),
                  "decisions": int(r0[5]), "conflicts": int(r0[6]), "packages_loaded": int(r0[7]),
                  "runs": len(rows)}))'
}

# run_uv NAME: median wall time of uv pip compile on the wheel directory.
run_uv() {
    local name=$1 i
    local d="$WORK/$name-wheels"
    [ -d "$d" ] || { echo null; return; }
    for ((i = 0; i < RUNS; i++)); do
        local t0 t1
        t0=$(date +%s%N)
        # An explicit interpreter, so uv does not spend time discovering one.
        "$UV" pip compile --quiet --no-index --offline --find-links "$d" --python "$UV_PY" \
            --python-version 3.11 --cache-dir "$WORK/uv-cache" -o /dev/null \
            "$d/requirements.in" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
    done | "$PY" -c '
import json, statistics, sys
v = [int(l) / 1000 for l in sys.stdin]
print(json.dumps({"wall_ms": statistics.median(v), "runs": len(v)}))'
}

large=$(run_mb large)
patho=$(run_mb patho)
uv_large=null
uv_patho=null
uv_version=null
if ((have_uv)); then
    uv_version="\"$("$UV" --version | awk '{print $2}')\""
    uv_large=$(run_uv large)
    uv_patho=$(run_uv patho)
fi
"$PY" - "$large" "$patho" "$uv_large" "$uv_patho" "$uv_version" <<'PYEOF' >scripts/bench/results/resolve.json
import json, os, platform, sys, time
large, patho, uvl, uvp, uvv = (json.loads(a) for a in sys.argv[1:6])
def ratio(u, m):
    return round(u["wall_ms"] / m["process_wall_ms"], 2) if u else None
out = {
    "benchmark": "resolve",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
    "large_10000x20": dict(large, target_solver_ms=20, meets_target=large["solver_ms"] < 20),
    "pathological_500_failing_versions": dict(patho, target_total_ms=200,
                                              meets_target=patho["total_ms"] < 200),
    "uv": {"version": uvv, "large_wall_ms": uvl["wall_ms"] if uvl else None,
           "pathological_wall_ms": uvp["wall_ms"] if uvp else None,
           "ratio_uv_over_modularbase_large": ratio(uvl, large),
           "ratio_uv_over_modularbase_pathological": ratio(uvp, patho),
           "note": "process wall time of both, each reading its own metadata (index JSON "
                   "vs wheel METADATA) for the packs reachable from the request"},
}
print(json.dumps(out, indent=2))
PYEOF
cat scripts/bench/results/resolve.json
