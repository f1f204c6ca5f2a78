#!/usr/bin/env bash
# cpu-decode-llama-bench.sh - the cpu-decode comparison on a machine that has a llama.cpp
# build (llama-bench) but no llama-cpp-python, e.g. a quiet lent machine: both runtimes
# pinned to the same NCORES physical cores (one hardware thread each), llama-bench's
# conventions (pp512: a 512-token prompt from an empty context; tg128: 128 tokens decoded
# one at a time from an empty context), REPS runs each, alternating, best kept.
# modularbase is timed through `run --verbose` as in cpu-decode.sh. Prints JSON.
#
#   scripts/bench/cpu-decode-llama-bench.sh MODEL.gguf LLAMA_BENCH MODULARBASE PROMPT512.txt \
#       [NCORES] [REPS]
set -euo pipefail
MODEL=$1 LB=$2 MB=$3 PROMPT=$4 NCORES=${5:-2} REPS=${6:-5}

# One hardware thread on each of NCORES distinct physical cores.
CPUS=$(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' | awk -F, '!seen[$3","$2]++ {print $1}' |
    head -n "$NCORES" | paste -sd,)
pin() { taskset -c "$CPUS" "$@"; }

ours() { # pp|tg -> tokens/s
    local line
    if [ "$1" = pp ]; then
        line=$(pin "$MB" run -m "$MODEL" --raw -p - -n 1 --temp 0 -t "$NCORES" --ctx 1024 \
            --verbose <"$PROMPT" 2>&1 >/dev/null | grep '^prompt:')
        sed -E 's/.*evaluated\) in [0-9.]+ s, ([0-9.]+) tokens\/s.*/\1/' <<<"$line"
    else
        line=$(pin "$MB" run -m "$MODEL" --raw -p Once -n 128 --ignore-eos --temp 0 \
            -t "$NCORES" --ctx 1024 --verbose 2>&1 >/dev/null | grep '^prompt:')
        sed -E 's/.*generation: [0-9]+ tokens in [0-9.]+ s, ([0-9.]+) tokens\/s.*/\1/' <<<"$line"
    fi
}
theirs() { # pp|tg -> tokens/s (llama-bench, one repetition)
    local args=(-p 512 -n 0)
    [ "$1" = tg ] && args=(-p 0 -n 128)
    pin "$LB" -m "$MODEL" -t "$NCORES" -r 1 "${args[@]}" -o json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])'
}

ours tg >/dev/null # warm-up
theirs tg >/dev/null
declare -A R
for _ in $(seq "$REPS"); do
    for t in pp tg; do
        R[ours_$t]+="$(ours $t) "
        R[theirs_$t]+="$(theirs $t) "
    done
done
python3 - "$CPUS" "${R[ours_pp]}" "${R[theirs_pp]}" "${R[ours_tg]}" "${R[theirs_tg]}" <<'PY'
import json, os, sys
cpus, runs = sys.argv[1], [list(map(float, a.split())) for a in sys.argv[2:6]]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
best = [max(r) for r in runs]
print(json.dumps({
    "benchmark": "cpu-decode (llama-bench)", "cpu": cpu, "pinned_cpus": cpus,
    "runs_tokens_per_s": {"modularbase": {"pp512": runs[0], "tg128": runs[2]},
                          "llama.cpp": {"pp512": runs[1], "tg128": runs[3]}},
    "best_tokens_per_s": {"modularbase": {"pp512": best[0], "tg128": best[2]},
                          "llama.cpp": {"pp512": best[1], "tg128": best[3]}},
    "ratio_modularbase_over_llama_cpp": {"pp512": round(best[0] / best[1], 3),
                                         "tg128": round(best[2] / best[3], 3)},
}, indent=2))
PY
