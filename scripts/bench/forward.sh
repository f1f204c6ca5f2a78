#!/usr/bin/env bash
# forward.sh - the CPU kernels composed into SmolLM2's forward pass
# (tests/bench/bench_forward.c: the backend interface, as the runtime calls it,
# without tokenizer or sampler) against llama.cpp (llama-cpp-python, same file,
# same thread count) in the same run: prefill of 512 tokens and decode of 128,
# on 1 and 2 threads. Writes scripts/bench/results/forward.json.
#
#   scripts/bench/forward.sh [--model FILE.gguf] [--prefill N] [--decode M] [--out FILE]
#
# Run it on a quiet machine: it warns when the load average is above 0.5.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/scripts/bench/results/forward.json
MODEL=${MB_MODEL:-$HOME/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PREFILL=512
DECODE=128
while (($#)); do
    case "$1" in
    --model) MODEL=$2; shift ;;
    --prefill) PREFILL=$2; shift ;;
    --decode) DECODE=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "forward.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
[ -f "$MODEL" ] || { echo "forward.sh: no model at $MODEL (scripts/fetch-model.sh)" >&2; exit 1; }

BUILD=${MB_BENCH_BUILD:-$ROOT/build-bench}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMB_CUDA=OFF >/dev/null
cmake --build "$BUILD" --target bench_forward -j2 >/dev/null

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "forward.sh: warning: load average is $load; figures will be low and noisy" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in 1 2; do
    echo "forward.sh: modularbase kernels, $t thread(s)..." >&2
    "$BUILD/tests/bench_forward" "$MODEL" --threads "$t" --prefill "$PREFILL" --decode "$DECODE" \
        >"$tmp/mb$t.json"
    echo "forward.sh: llama.cpp, $t thread(s)..." >&2
    "${PYTHON:-python3}" - "$MODEL" "$t" "$PREFILL" "$DECODE" >"$tmp/ll$t.json" <<'PY'
import json, sys, time
import llama_cpp
model, t, npre, ndec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = llama_cpp.Llama(model, n_threads=t, n_threads_batch=t, n_ctx=npre + ndec + 16, n_batch=npre,
                    n_ubatch=npre, verbose=False)
ids = [(i * 7919 + 13) % m.n_vocab() for i in range(npre)]  # the same ids as bench_forward
m.eval(ids)  # warm-up
m.reset()
t0 = time.perf_counter(); m.eval(ids); tp = time.perf_counter() - t0
tok = ids[-1]
t0 = time.perf_counter()
for i in range(ndec):
    m.eval([tok])
    tok = (tok * 31 + 7) % m.n_vocab()  # the token does not matter for speed
td = time.perf_counter() - t0
json.dump({"threads": t, "prefill_tok_s": npre / tp, "decode_tok_s": ndec / td}, sys.stdout)
PY
done

mkdir -p "$(dirname "$OUT")"
"${PYTHON:-python3}" - "$tmp" "$OUT" "$load" "$MODEL" <<'PY'
import json, os, sys, time
tmp, out, load, model = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
runs = []
for t in (1, 2):
    mb = json.load(open(os.path.join(tmp, f"mb{t}.json")))
    ll = json.load(open(os.path.join(tmp, f"ll{t}.json")))
    runs.append({"threads": t, "modularbase_kernels": mb, "llama_cpp": ll,
                 "prefill_ratio": mb["prefill_tok_s"] / ll["prefill_tok_s"],
                 "decode_ratio": mb["decode_tok_s"] / ll["decode_tok_s"]})
doc = {"benchmark": "forward (kernels only: no tokenizer, no sampler)", "model": os.path.basename(model),
       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "host": {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_start": load}, "runs": runs}
json.dump(doc, open(out, "w"), indent=1)
for r in runs:
    mb, ll = r["modularbase_kernels"], r["llama_cpp"]
    print(f"threads {r['threads']}: prefill {mb['prefill_tok_s']:7.1f} vs llama.cpp {ll['prefill_tok_s']:7.1f} tok/s "
          f"({r['prefill_ratio']:.2f}x)   decode {mb['decode_tok_s']:6.1f} vs {ll['decode_tok_s']:6.1f} tok/s "
          f"({r['decode_ratio']:.2f}x)")
print(f"wrote {out}")
PY
