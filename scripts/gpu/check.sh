#!/usr/bin/env bash
# check.sh - the GPU checks, run on the lent GPU machine from the folder that
# scripts/gpu/stage.sh prepared (docs/cuda.md): every op on the CUDA backend
# against the reference with per-type bounds and NaN-poisoned outputs
# (test_ops, CUDA backends only), the CUDA-specific behaviour (test_cuda), the
# runtime on CUDA against the CPU (test_cuda_session), greedy tokens of 5
# prompts x 64 steps identical on CPU and CUDA through the binary (t9010, on a
# synthetic SmolLM2-shaped model and on the real one when it is there), and
# compute-sanitizer memcheck over the GPU tests and a short generation.
# Logs go to $OUT (one per step); a summary table is printed last.
#
#   DEV=.dev OUT=/tmp/out scripts/gpu/check.sh [--no-sanitizer] [--model FILE.gguf]
set -uo pipefail
DEV=${DEV:-.dev}
OUT=${OUT:-/tmp/mb-check}
DEV=$(cd "$DEV" && pwd)
mkdir -p "$OUT"
sanitize=1
real=""
while (($#)); do
    case "$1" in
    --no-sanitizer) sanitize=0 ;;
    --model) real=$2; shift ;;
    *) echo "check.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
export LD_LIBRARY_PATH="$DEV/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export PATH="/usr/local/cuda/bin:$PATH"
B=$DEV/bin
summary=()

step() { # name timeout cmd...
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    local verdict=FAIL
    [ $rc = 0 ] && verdict=ok
    [ $rc = 77 ] && verdict=skipped
    [ $rc = 124 ] && verdict=TIMEOUT
    summary+=("$(printf '%-28s %-8s exit %-3s %4ss' "$name" "$verdict" "$rc" $((SECONDS - t0)))")
    echo "== $name: $verdict (exit $rc, $((SECONDS - t0)) s)"
    tail -5 "$OUT/$name.log" | sed 's/^/   | /'
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
ldd --version | head -1

step test_ops_cuda 300 env MB_TEST_BACKENDS=cuda "$B/kernels_test_ops"
step test_cuda 300 "$B/kernels_test_cuda"
step test_cuda_session 300 "$B/runtime_test_cuda_session"
export MB_BIN=$B/modularbase MB_TOKENIZER=$DEV/data/tok.gguf
if [ -n "$real" ]; then
    export MB_MODEL=$real
else
    export MB_MODEL=/nonexistent MB_CUDA_SYNTH_ONLY=1
fi
step t9010_cuda_greedy 600 python3 "$DEV/scripts/t9010-cuda-greedy.py"

if ((sanitize)); then
    CS="compute-sanitizer --tool memcheck --leak-check full --error-exitcode 99"
    step memcheck_test_cuda 600 $CS "$B/kernels_test_cuda"
    step memcheck_test_cuda_session 600 $CS "$B/runtime_test_cuda_session"
    step memcheck_test_ops_cuda 300 env MB_TEST_BACKENDS=cuda $CS "$B/kernels_test_ops"
    tmp=$(mktemp -d)
    "$B/modularbase" gguf synth --shape tiny --tokenizer "$MB_TOKENIZER" "$tmp/tiny.gguf" >/dev/null 2>&1
    step memcheck_run 300 $CS "$B/modularbase" run -m "$tmp/tiny.gguf" --device cuda \
        -p "Hello there, how are you?" -n 24 --temp 0.7 --seed 1
    rm -rf "$tmp"
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
