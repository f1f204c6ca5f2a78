#!/usr/bin/env bash
# gpu.sh - modularbase against llama.cpp on the same GPU and the same GGUF files,
# in one run (DESIGN.md §8, docs/performance.md): llama-bench's pp512 and tg128
# for both, the ratio, and decode's fraction of the device's measured copy
# bandwidth (weight bytes per token x tokens/s / bandwidth). Models: SmolLM2-135M
# Q4_1 (the real file with --real, else a synthetic one of its exact shape) and
# synthetic 1B- and 7B-shaped llama models in Q4_0 and Q8_0 (random weights,
# SmolLM2's tokenizer, written by `modularbase gguf synth`). Also the pack-swap
# upload of 100 MB against cudaMemcpy, and peak VRAM of a SmolLM2 chat session.
#
# Runs on the GPU machine from the folder scripts/gpu/stage.sh prepared:
#   DEV=.dev scripts/bench/gpu.sh [--real FILE.gguf] [--llama-src llama.cpp.tar.xz]
#                                 [--llama-bench PATH] [--out FILE.json] [--only NAME]
# llama.cpp is built from the llama-cpp-python sdist's bundled source when only
# --llama-src is given (CUDA, sm_90, llama-bench target; several minutes).
set -uo pipefail
DEV=$(cd "${DEV:-.dev}" && pwd)
WORK=${MB_BENCH_WORK:-/dev/shm/mb-bench}
OUTJSON=${OUT:-/tmp}/gpu.json
real=""
llama_src=""
llama_bench=""
only=""
while (($#)); do
    case "$1" in
    --real) real=$2; shift ;;
    --llama-src) llama_src=$2; shift ;;
    --llama-bench) llama_bench=$2; shift ;;
    --out) OUTJSON=$2; shift ;;
    --only) only=$2; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
export LD_LIBRARY_PATH="$DEV/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export PATH="/usr/local/cuda/bin:$PATH"
B=$DEV/bin
mkdir -p "$WORK"

# llama.cpp: a given binary, one built earlier on this machine, or build it now
LLAMA_BUILD=${MB_LLAMA_BUILD:-/root/llama-build}
if [ -z "$llama_bench" ] && [ -x "$LLAMA_BUILD/bin/llama-bench" ]; then
    llama_bench=$LLAMA_BUILD/bin/llama-bench
fi
if [ -z "$llama_bench" ] && [ -n "$llama_src" ]; then
    echo "gpu.sh: building llama.cpp (CUDA, sm_90, llama-bench only)..." >&2
    t0=$SECONDS
    mkdir -p /root/llama-src
    tar -xJf "$llama_src" -C /root/llama-src
    cmake -S /root/llama-src/llama.cpp -B "$LLAMA_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_CUDA_FA_ALL_QUANTS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON \
        -DGGML_CCACHE=OFF >"$WORK/llama-cmake.log" 2>&1 &&
        ninja -C "$LLAMA_BUILD" -j16 llama-bench >"$WORK/llama-build.log" 2>&1 &&
        llama_bench=$LLAMA_BUILD/bin/llama-bench
    echo "gpu.sh: llama.cpp build: $((SECONDS - t0)) s, ${llama_bench:-FAILED}" >&2
    [ -n "$llama_bench" ] || tail -20 "$WORK/llama-build.log" >&2
fi

# models
declare -a NAMES PATHS
add_model() { NAMES+=("$1"); PATHS+=("$2"); }
gen() { # name shape type
    local f=$WORK/$1.gguf
    [ -f "$f" ] || "$B/modularbase" gguf synth --shape "$2" --type "$3" \
        --tokenizer "$DEV/data/tok.gguf" "$f" >/dev/null 2>&1 || echo "gpu.sh: synth $1 failed" >&2
}
if [ -n "$real" ]; then
    add_model smollm2-135m-q4_1-real "$real"
else
    gen smollm2-135m-q4_1-synth smollm2 q4_1 &
    add_model smollm2-135m-q4_1-synth "$WORK/smollm2-135m-q4_1-synth.gguf"
fi
for m in 1b:q4_0 1b:q8_0 7b:q4_0 7b:q8_0; do
    [ -n "$real" ] && break
    n=llama-${m%%:*}-${m##*:}-synth
    gen "$n" "${m%%:*}" "${m##*:}" &
    add_model "$n" "$WORK/$n.gguf"
done
wait

results=$WORK/results.jsonl
: >"$results"
for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]} path=${PATHS[$i]}
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    [ -f "$path" ] || continue
    echo "gpu.sh: $name: modularbase..." >&2
    mbj=$("$B/bench_gpu" "$path" --pp 512 --tg 128 --reps 5 \
        --copy-mb "$([ "$i" = 0 ] && echo 100 || echo 0)" 2>"$WORK/$name.mb.err") ||
        { echo "gpu.sh: bench_gpu failed on $name" >&2; cat "$WORK/$name.mb.err" >&2; mbj=null; }
    llj=null
    if [ -n "$llama_bench" ]; then
        echo "gpu.sh: $name: llama.cpp..." >&2
        llj=$("$llama_bench" -m "$path" -p 512 -n 128 -r 5 -ngl 99 -o json 2>"$WORK/$name.ll.err") ||
            { echo "gpu.sh: llama-bench failed on $name" >&2; tail -5 "$WORK/$name.ll.err" >&2; llj=null; }
    fi
    printf '{"name": "%s", "modularbase": %s, "llama_cpp": %s}\n' "$name" "$mbj" \
        "$(echo "$llj" | tr -d '\n')" >>"$results"
done

python3 - "$results" "$OUTJSON" <<'PY'
import json, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                     capture_output=True, text=True).stdout.strip()
out = {"gpu": gpu, "conventions": "llama-bench: pp512 = one 512-token prompt from an empty "
       "cache, tg128 = 128 single-token steps from an empty cache, mean of 5 runs after a warm-up",
       "models": []}
print(f"{'model':28} {'mb pp512':>10} {'ll pp512':>10} {'ratio':>6} {'mb tg128':>9} "
      f"{'ll tg128':>9} {'ratio':>6} {'bw%':>5}")
for r in rows:
    mb, ll = r["modularbase"], r["llama_cpp"]
    e = {"name": r["name"], "modularbase": mb}
    lpp = ltg = None
    if ll:
        for t in ll:
            if t.get("n_prompt") == 512 and t.get("n_gen") == 0:
                lpp = t["avg_ts"]
            if t.get("n_gen") == 128 and t.get("n_prompt") == 0:
                ltg = t["avg_ts"]
        e["llama_cpp"] = {"pp512_tps": lpp, "tg128_tps": ltg, "build": ll[0].get("build_commit"),
                          "flash_attn": ll[0].get("flash_attn")}
    if mb:
        e["pp512_ratio"] = mb["pp_tps"] / lpp if lpp else None
        e["tg128_ratio"] = mb["tg_tps"] / ltg if ltg else None
    out["models"].append(e)
    f = lambda v: f"{v:10.1f}" if isinstance(v, (int, float)) else f"{'-':>10}"
    g = lambda v: f"{v:6.2f}" if isinstance(v, (int, float)) else f"{'-':>6}"
    if mb:
        print(f"{r['name']:28} {f(mb['pp_tps'])} {f(lpp)} {g(e['pp512_ratio'])} "
              f"{f(mb['tg_tps'])[1:]} {f(ltg)[1:]} {g(e['tg128_ratio'])} "
              f"{100 * mb.get('tg_bw_fraction', 0):5.1f}")
json.dump(out, open(sys.argv[2], "w"), indent=1)
first = rows[0]["modularbase"] if rows and rows[0]["modularbase"] else {}
if "pack_upload_ms" in first:
    print(f"pack swap {first['pack_bytes'] >> 20} MiB: upload {first['pack_upload_ms']:.2f} ms, "
          f"cudaMemcpy pageable {first['memcpy_pageable_ms']:.2f} ms "
          f"({first['upload_vs_pageable']:.2f}x), pinned {first['memcpy_pinned_ms']:.2f} ms "
          f"({first['upload_vs_pinned']:.2f}x); d2d bandwidth {first['d2d_copy_gbps']:.0f} GB/s")
if "vram_peak_bytes" in first:
    print(f"peak VRAM of {rows[0]['name']} (ctx {first['peak_ctx']}): "
          f"{first['vram_peak_bytes'] / 2**20:.1f} MiB allocated by the backend, "
          f"{first['vram_device_used_bytes'] / 2**20:.0f} MiB in use on the device")
PY
echo "gpu.sh: results in $OUTJSON" >&2
