#!/usr/bin/env bash
# tokenizer.sh - encoding speed of `modularbase tokenize` against llama.cpp (through
# llama-cpp-python) on the same file, in the same run: the single-line entries of
# tests/data/tokenizer/corpus.json, repeated REPEAT times (default 10), one text per line.
# Both sides time encoding only (no model loading); llama.cpp's side includes the Python
# call per line, which is small next to tokenizing ~50 bytes but not zero. Best of 3 runs.
# Writes scripts/bench/results/tokenizer.json and prints it.
#
#   scripts/bench/tokenizer.sh [--repeat N]      (MB_BIN, MB_MODEL override the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT=10
while (($#)); do
    case "$1" in
    --repeat) REPEAT=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "tokenizer.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
MB=${MB_BIN:-build/modularbase}
MODEL=${MB_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PY=${PYTHON:-python3}
[ -x "$MB" ] || { echo "tokenizer.sh: build first ($MB missing)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "tokenizer.sh: model missing ($MODEL); run scripts/fetch-model.sh" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$PY" - "$REPEAT" "$TMP/lines.txt" <<'PYEOF'
import json, sys
repeat, out = int(sys.argv[1]), sys.argv[2]
corpus = json.load(open("tests/data/tokenizer/corpus.json", encoding="utf-8"))
lines = [s for s in corpus if "\n" not in s and "\r" not in s] * repeat
open(out, "w", encoding="utf-8", newline="").write("\n".join(lines))
PYEOF

best_ms=
for _ in 1 2 3; do
    stats=$("$MB" tokenize -m "$MODEL" --per-line --count --stats --file "$TMP/lines.txt" 2>&1 >/dev/null | grep '^stats:')
    ms=$(sed -E 's/.*encode_ms=([0-9.]+).*/\1/' <<<"$stats")
    if [ -z "$best_ms" ] || awk "BEGIN{exit !($ms < $best_ms)}"; then best_ms=$ms; best_stats=$stats; fi
done

"$PY" - "$MODEL" "$TMP/lines.txt" "$best_stats" "$(uname -m)" "$(nproc)" <<'PYEOF'
import datetime, json, re, sys, time
model, path, stats, machine, cores = sys.argv[1:6]
ours = dict(kv.split("=") for kv in stats.split()[1:])
lines = open(path, encoding="utf-8").read().split("\n")
result = {
    "benchmark": "tokenizer-encode",
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "machine": machine, "cores": int(cores), "model": model.split("/")[-1],
    "lines": len(lines), "bytes": int(ours["bytes"]), "tokens": int(ours["tokens"]),
    "modularbase_encode_ms": float(ours["encode_ms"]),
    "modularbase_load_ms": float(ours["load_ms"]),
}
result["modularbase_lines_per_s"] = round(len(lines) / (result["modularbase_encode_ms"] / 1e3))
result["modularbase_mb_per_s"] = round(result["bytes"] / result["modularbase_encode_ms"] / 1e3, 2)
try:
    from llama_cpp import Llama, __version__
    llm = Llama(model, vocab_only=True, verbose=False)
    data = [s.encode() for s in lines]
    best, n_tok = None, 0
    for _ in range(3):
        t0 = time.perf_counter()
        n_tok = sum(len(llm.tokenize(b, add_bos=True, special=True)) for b in data)
        dt = (time.perf_counter() - t0) * 1e3
        best = dt if best is None or dt < best else best
    result["reference"] = f"llama-cpp-python {__version__}"
    result["llama_cpp_encode_ms"] = round(best, 3)
    result["llama_cpp_tokens"] = n_tok
    result["same_token_count"] = n_tok == result["tokens"]
    result["speed_ratio_vs_llama_cpp"] = round(best / result["modularbase_encode_ms"], 3)
except ImportError:
    result["reference"] = "llama-cpp-python not installed"
out = "scripts/bench/results/tokenizer.json"
json.dump(result, open(out, "w"), indent=2)
open(out, "a").write("\n")
print(json.dumps(result, indent=2))
PYEOF
