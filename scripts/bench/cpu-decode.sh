#!/usr/bin/env bash
# cpu-decode.sh - CPU inference speed of modularbase against llama.cpp on the same GGUF
# file, same thread count, in the same run (llama-bench's conventions):
#
#   pp512  prefill: one 512-token prompt evaluated from an empty context, tokens/s
#   tg128  decode: 128 tokens generated greedily one at a time after a 1-token prompt
#          (end-of-turn tokens never sampled), tokens/s
#
# modularbase runs through the product path (`modularbase run --raw --verbose`, whose
# timing line this parses); llama.cpp through llama-cpp-python (Llama.eval, numpy argmax),
# alternating, REPS times each, best run kept (the machine is shared: the best run is the
# one least disturbed). Writes scripts/bench/results/cpu-decode.json (and prints it).
# The decode rate includes sampling and, on the llama.cpp side, the Python loop (~1%).
#
#   scripts/bench/cpu-decode.sh [--threads N] [--reps N] [--model FILE] [--out FILE]
#   MB_BIN=path/to/modularbase (default build/modularbase)
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=2
REPS=3
MODEL=${MB_MODEL:-}
OUT=scripts/bench/results/cpu-decode.json
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "cpu-decode.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
MB=${MB_BIN:-build/modularbase}
[ -n "$MODEL" ] || MODEL=$(scripts/fetch-model.sh)
[ -x "$MB" ] || { echo "cpu-decode.sh: no binary at $MB (build first)" >&2; exit 1; }
python3 -c "import llama_cpp" 2>/dev/null || {
    echo "cpu-decode.sh: needs the Python package llama-cpp-python (scripts/install-deps.sh)" >&2
    exit 1
}
mkdir -p "$(dirname "$OUT")"

python3 - "$MB" "$MODEL" "$THREADS" "$REPS" "$OUT" <<'PY'
import json, os, platform, re, subprocess, sys, time
import numpy as np
from llama_cpp import Llama
import llama_cpp

MB, MODEL, THREADS, REPS, OUT = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
N_PP, N_TG = 512, 128

def load():
    return open("/proc/loadavg").read().split()[0]

def mb(*args, stdin=None):
    return subprocess.run([MB, *args], input=stdin, capture_output=True, check=True)

# A real-text prompt of exactly N_PP tokens under our tokenizer (equal to llama.cpp's,
# tests/integration/t2030): whole words from the project's docs, grown until it fits.
words = []
for root in ("docs", "README.md"):
    paths = [root] if os.path.isfile(root) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".md"))
    for p in paths:
        words += open(p, encoding="utf-8").read().split()
def count(n):
    return int(mb("tokenize", "-m", MODEL, "--count", "-", stdin=" ".join(words[:n]).encode()).stdout)
lo, hi = 1, len(words)
while lo < hi:  # the largest prefix with <= N_PP tokens
    mid = (lo + hi + 1) // 2
    if count(mid) <= N_PP:
        lo = mid
    else:
        hi = mid - 1
prompt = " ".join(words[:lo])
while count(lo) < N_PP:  # pad with single-token words to exactly N_PP
    prompt += " the"
    words.insert(lo, "the")
    lo += 1
n_prompt = int(mb("tokenize", "-m", MODEL, "--count", "-", stdin=prompt.encode()).stdout)
assert n_prompt == N_PP, n_prompt

RATE = re.compile(r"prompt: (\d+) tokens \((\d+) evaluated\) in ([0-9.]+) s, ([0-9.]+) tokens/s \| "
                  r"generation: (\d+) tokens in ([0-9.]+) s, ([0-9.]+) tokens/s")

def ours_pp():
    p = mb("run", "-m", MODEL, "--raw", "-p", "-", "-n", "1", "--temp", "0", "-t", str(THREADS),
           "--ctx", "1024", "--verbose", stdin=prompt.encode())
    m = RATE.search(p.stderr.decode())
    assert int(m.group(2)) == N_PP, p.stderr
    return float(m.group(4))

def ours_tg():
    p = mb("run", "-m", MODEL, "--raw", "-p", "Once", "-n", str(N_TG), "--ignore-eos", "--temp",
           "0", "-t", str(THREADS), "--ctx", "1024", "--verbose")
    m = RATE.search(p.stderr.decode())
    assert int(m.group(5)) == N_TG, p.stderr
    return float(m.group(7))

llm = Llama(model_path=MODEL, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=THREADS,
            n_threads_batch=THREADS, seed=0, verbose=False)
pp_ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
assert len(pp_ids) == N_PP, len(pp_ids)
tg_ids = llm.tokenize(b"Once", add_bos=True, special=True)
eog = [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(llm._model.vocab, t)]

def llama_pp():
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(pp_ids)
    return N_PP / (time.perf_counter() - t0)

def llama_tg():
    llm.reset()
    llm.eval(tg_ids)
    t0 = time.perf_counter()
    for i in range(N_TG):  # as `run`: N_TG samples, N_TG - 1 evaluations
        row = llm.scores[llm.n_tokens - 1].copy()
        row[eog] = -np.inf
        tok = int(np.argmax(row))
        if i + 1 < N_TG:
            llm.eval([tok])
    return N_TG / (time.perf_counter() - t0)

runs = {"modularbase": {"pp512": [], "tg128": []}, "llama.cpp": {"pp512": [], "tg128": []}}
loads = [load()]
ours_tg(); llama_tg()  # warm-up: page cache, CPU frequency
for r in range(REPS):
    runs["modularbase"]["pp512"].append(ours_pp())
    runs["llama.cpp"]["pp512"].append(llama_pp())
    runs["modularbase"]["tg128"].append(ours_tg())
    runs["llama.cpp"]["tg128"].append(llama_tg())
    loads.append(load())
best = {k: {t: max(v) for t, v in d.items()} for k, d in runs.items()}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = {
    "benchmark": "cpu-decode",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(), "threads": THREADS,
    "load_average_1m": loads,
    "model": os.path.basename(MODEL), "model_bytes": os.path.getsize(MODEL),
    "reference": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp, f16 KV cache, "
                 f"n_batch 512, flash attention off)",
    "modularbase_isa": os.environ.get("MB_CPU_ISA", "default"),
    "runs_tokens_per_s": runs,
    "best_tokens_per_s": best,
    "ratio_modularbase_over_llama_cpp": {
        t: round(best["modularbase"][t] / best["llama.cpp"][t], 3) for t in ("pp512", "tg128")},
    "target": "tg128 ratio >= 1.0",
}
json.dump(out, open(OUT, "w"), indent=2)
print(json.dumps(out, indent=2))
PY
