#!/usr/bin/env bash
# gguf-inspect.sh - how long `modularbase gguf inspect` takes on the real model
# (text, --tensors, --json), side by side with gguf-py's gguf-dump on the same
# file, with hyperfine (warm page cache). Writes
# scripts/bench/results/gguf-inspect.json. The target is < 50 ms.
#
#   scripts/bench/gguf-inspect.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
MB=${MB_BIN:-$BUILD/modularbase}
MODEL=${MB_MODEL:-$(scripts/fetch-model.sh)}
OUT=scripts/bench/results/gguf-inspect.json
command -v hyperfine >/dev/null || { echo "gguf-inspect.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$MB" ] || { echo "gguf-inspect.sh: no binary at $MB (build first)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hyperfine -N --warmup 3 --runs 30 --output=pipe --export-json "$tmp/h.json" \
    "$MB gguf inspect $MODEL" "$MB gguf inspect --tensors $MODEL" \
    "$MB gguf inspect --json $MODEL" >&2
# The reference takes seconds per run: a few runs are enough.
echo '{"results": []}' >"$tmp/ref.json"
if command -v gguf-dump >/dev/null; then
    hyperfine -N --warmup 1 --runs 3 --output=pipe --export-json "$tmp/ref.json" \
        "gguf-dump --no-tensors $MODEL" >&2
fi

python3 - "$tmp/h.json" "$OUT" "$MODEL" "$tmp/ref.json" <<'PY'
import json, os, platform, sys, time
h = json.load(open(sys.argv[1]))
h["results"] += json.load(open(sys.argv[4]))["results"]
res = {r["command"].split()[0].split("/")[-1] + " " + " ".join(r["command"].split()[1:-1]):
       {"mean_ms": round(r["mean"] * 1e3, 2), "stddev_ms": round(r["stddev"] * 1e3, 2),
        "min_ms": round(r["min"] * 1e3, 2), "max_ms": round(r["max"] * 1e3, 2)}
       for r in h["results"]}
text = res["modularbase gguf inspect"]["mean_ms"]
ref = next((v["mean_ms"] for k, v in res.items() if k.startswith("gguf-dump")), None)
out = {
    "benchmark": "gguf-inspect",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": platform.node(), "cpu_count": os.cpu_count(),
    "model": os.path.basename(sys.argv[3]), "model_bytes": os.path.getsize(sys.argv[3]),
    "target_ms": 50, "within_target": all(v["mean_ms"] < 50 for k, v in res.items()
                                          if k.startswith("modularbase")),
    "results": res,
    "ratio_gguf_dump_over_inspect": round(ref / text, 1) if ref else None,
}
json.dump(out, open(sys.argv[2], "w"), indent=2)
print(json.dumps(out, indent=2))
PY
