#!/usr/bin/env bash
# quantize.sh - quantization against llama.cpp, side by side (docs/quantization.md):
# SmolLM2-135M-Instruct (Q4_1) is dequantized to F16, then quantized by us
# (`modularbase gguf quantize`) and by llama.cpp (`llama_model_quantize` of the installed
# llama-cpp-python) to Q8_0, Q4_0, Q4_1 and Q4_K (llama.cpp's Q4_K_M mix), plus Q4_0 with a
# 4-bit head ("q4_0-head4", sizes only unless --full). For each file: file size, pack memory
# (tensor bytes, what a loaded pack occupies) and the expert blocks' bytes against F16,
# perplexity over >= 100k tokens (ours: `eval perplexity`; llama.cpp's:
# scripts/reference/perplexity_llamacpp.py, its llama-perplexity method), Δppl against each
# side's F16, greedy decode tokens/s (ours: `run`; llama.cpp: llama-cpp-python), quantization
# time, and whether both quantizers wrote the same tensor bytes.
#
# The text is git's release notes (/usr/share/doc/git/RelNotes/*.txt in version order, the
# first BYTES bytes). Long: every perplexity run evaluates ~100k tokens (tens of minutes each
# on 2 cores); finished steps are kept in WORK and skipped when the script is run again.
# Writes scripts/bench/results/quantize.json and the table in docs/quantization.md.
#
#   scripts/bench/quantize.sh [--work DIR] [--bytes N] [--ctx N] [--threads N] [--full]
#                             [--no-llama] [--smoke]   (MB_BIN, MB_MODEL override the defaults)
# --smoke checks the pipeline in minutes (40 kB of text, ctx 128, 4 chunks) and writes its
# results under WORK only.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=${TMPDIR:-/tmp}/mb-bench-quantize
BYTES=420000
CTX=512
THREADS=2
FULL=0
LLAMA=1
SMOKE=0
while (($#)); do
    case "$1" in
    --work) WORK=$2; shift 2 ;;
    --bytes) BYTES=$2; shift 2 ;;
    --ctx) CTX=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --full) FULL=1; shift ;;
    --no-llama) LLAMA=0; shift ;;
    --smoke) SMOKE=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "quantize.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
MB=$(realpath "${MB_BIN:-build/modularbase}")
MODEL=${MB_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PY=${PYTHON:-python3}
REF="$ROOT/scripts/bench/quantize_ref.py"
[ -x "$MB" ] || { echo "quantize.sh: build first ($MB missing)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "quantize.sh: model missing ($MODEL); run scripts/fetch-model.sh" >&2; exit 1; }
if ((LLAMA)) && ! "$PY" -c 'import llama_cpp' 2>/dev/null; then
    echo "quantize.sh: llama-cpp-python missing; use --no-llama" >&2
    exit 1
fi
CHUNKS=()
if ((SMOKE)); then
    WORK=$WORK-smoke BYTES=40000 CTX=128
    CHUNKS=(--chunks 4)
    export MB_BENCH_CHUNKS=4
fi
mkdir -p "$WORK"
cd "$WORK"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TYPES="f16 q8_0 q4_0 q4_1 q4_k q4_0-head4"
declare -A FTYPE=([f16]=1 [q8_0]=7 [q4_0]=2 [q4_1]=3 [q4_k]=15 [q4_0-head4]=2)

# --- the text
if [ ! -s text.txt ]; then
    notes=$(ls /usr/share/doc/git/RelNotes/*.txt 2>/dev/null | sort -V || true)
    [ -n "$notes" ] || { echo "quantize.sh: /usr/share/doc/git/RelNotes is missing (Debian's git)" >&2; exit 1; }
    # shellcheck disable=SC2086
    cat $notes | head -c "$BYTES" >text.tmp || true # cat dies of SIGPIPE once head has enough
    [ "$(wc -c <text.tmp)" = "$BYTES" ] || { echo "quantize.sh: the notes are shorter than $BYTES bytes" >&2; exit 1; }
    mv text.tmp text.txt
fi
TOKENS=$("$MB" tokenize -m "$MODEL" --count - <text.txt)
((TOKENS >= 100000 || SMOKE)) || { echo "quantize.sh: the text has only $TOKENS tokens (< 100k); raise --bytes" >&2; exit 1; }
log "text: $(wc -c <text.txt) bytes, $TOKENS tokens"
LLAMA_VERSION=$( ((LLAMA)) && "$PY" -c 'import llama_cpp; print(llama_cpp.__version__)' || echo none)
"$PY" - "$TOKENS" "$CTX" "$THREADS" "$LLAMA_VERSION" "$TYPES" >meta.json <<'EOF'
import json, platform, sys, datetime, os
tokens, ctx, threads, ver, types = sys.argv[1:6]
cpu = "?"
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
print(json.dumps({"benchmark": "quantize", "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
                  "text_name": "git's release notes (/usr/share/doc/git/RelNotes, version order)",
                  "text_bytes": os.path.getsize("text.txt"), "text_tokens": int(tokens),
                  "ctx": int(ctx), "chunks": int(tokens) // int(ctx) if not os.environ.get("MB_BENCH_CHUNKS") else int(os.environ["MB_BENCH_CHUNKS"]), "threads": int(threads),
                  "machine": f"{cpu}, {os.cpu_count()} cores",
                  "date": datetime.date.today().isoformat(), "llama_cpp_python": ver,
                  "types": types.split()}))
EOF

# --- files: ours and llama.cpp's
[ -s ours-f16.gguf ] || "$MB" gguf quantize --type f16 "$MODEL" ours-f16.gguf >/dev/null 2>&1
if ((LLAMA)) && [ ! -s llama-f16.gguf ]; then
    "$PY" "$REF" quantize "$MODEL" llama-f16.gguf 1 --threads "$THREADS" >/dev/null
fi
for t in $TYPES; do
    [ "$t" = f16 ] && continue
    if [ ! -s "qtime-ours-$t.json" ]; then
        args=(--type "${t%-head4}")
        [ "$t" = q4_0-head4 ] && args+=(--head q4_0)
        s=$(date +%s.%N)
        "$MB" gguf quantize "${args[@]}" -j "$THREADS" ours-f16.gguf "ours-$t.gguf" >/dev/null 2>&1
        echo "{\"seconds\": $(echo "$(date +%s.%N) - $s" | bc)}" >"qtime-ours-$t.json"
        log "ours $t: $(cat "qtime-ours-$t.json")"
    fi
    if ((LLAMA)) && [ ! -s "qtime-llama-$t.json" ]; then
        extra=()
        [ "$t" = q4_0-head4 ] && extra=(--embd 2)
        secs=$("$PY" "$REF" quantize llama-f16.gguf "llama-$t.gguf" "${FTYPE[$t]}" --threads "$THREADS" "${extra[@]}")
        echo "{\"seconds\": $secs}" >"qtime-llama-$t.json"
        log "llama.cpp $t: $secs s"
    fi
done
for who in ours llama; do
    ((LLAMA)) || [ $who = ours ] || continue
    for t in $TYPES; do
        [ -s "facts-$who-$t.json" ] || "$PY" "$REF" facts "$who-$t.gguf" >"facts-$who-$t.json"
    done
done

# --- decode speed
for t in $TYPES; do
    [ "$t" = q4_0-head4 ] && ((FULL == 0)) && continue
    if [ ! -s "decode-ours-$t.json" ]; then
        best=0
        for _ in 1 2; do
            line=$("$MB" run -m "ours-$t.gguf" --raw -p "The history of the printing press" -n 64 \
                --temp 0 --ignore-eos -t "$THREADS" -v 2>&1 >/dev/null | grep '^prompt:')
            tps=$(sed -E 's/.*generation: [0-9]+ tokens in [0-9.]+ s, ([0-9.]+) tokens\/s.*/\1/' <<<"$line")
            best=$(echo "if ($tps > $best) $tps else $best" | bc -l)
        done
        echo "{\"tokens_per_s\": $best}" >"decode-ours-$t.json"
        log "decode ours $t: $best tokens/s"
    fi
    if ((LLAMA)) && [ ! -s "decode-llama-$t.json" ]; then
        "$PY" "$REF" decode "llama-$t.gguf" --threads "$THREADS" --tokens 64 >"decode-llama-$t.json"
        log "decode llama.cpp $t: $(cat "decode-llama-$t.json")"
    fi
done

# --- perplexity (the long part)
for t in $TYPES; do
    [ "$t" = q4_0-head4 ] && ((FULL == 0)) && continue
    if [ ! -s "ppl-ours-$t.json" ]; then
        log "perplexity ours $t ..."
        "$MB" eval perplexity -m "ours-$t.gguf" -f text.txt --ctx "$CTX" -t "$THREADS" --json "${CHUNKS[@]}" \
            >"ppl-ours-$t.json.tmp" 2>"ppl-ours-$t.log"
        mv "ppl-ours-$t.json.tmp" "ppl-ours-$t.json"
        log "perplexity ours $t: $(grep -o '"ppl": [0-9.]*' "ppl-ours-$t.json")"
    fi
    if ((LLAMA)) && [ ! -s "ppl-llama-$t.json" ]; then
        log "perplexity llama.cpp $t ..."
        "$PY" "$ROOT/scripts/reference/perplexity_llamacpp.py" -m "llama-$t.gguf" -f text.txt \
            -c "$CTX" -t "$THREADS" --json "${CHUNKS[@]}" >"ppl-llama-$t.json.tmp" 2>"ppl-llama-$t.log"
        mv "ppl-llama-$t.json.tmp" "ppl-llama-$t.json"
        log "perplexity llama.cpp $t: $(grep -o '"ppl": [0-9.]*' "ppl-llama-$t.json")"
    fi
done

if ((SMOKE)); then
    "$PY" "$REF" report "$WORK" "$WORK/quantize.json" "$WORK/quantize.md" /dev/null
else
    mkdir -p "$ROOT/scripts/bench/results"
    "$PY" "$REF" report "$WORK" "$ROOT/scripts/bench/results/quantize.json" \
        "$ROOT/scripts/bench/results/quantize.md" "$ROOT/docs/quantization.md"
fi
