# t8020-quantize-cli.sh - `gguf quantize` as users meet it, on the real model
# and on small files: the K-quant fallback is announced (SmolLM2's 576-wide
# rows), re-quantizing needs --allow-requantize (refused with a clear error and
# no output, then allowed with a warning), unknown types and bad options are
# usage errors, the input is never the output, --dry-run writes nothing,
# --json and --stats report consistent figures, general.file_type changes,
# the runtime runs what we wrote, and a full disk (a small tmpfs) fails
# cleanly with nothing left behind.
. "$(dirname "$0")/lib.sh"
need_model
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
cd "$T"
sum() { sha256sum "$1" | cut -d' ' -f1; }
before=$(sum "$MODEL")

# --- bad usage
check_exit 2 "unknown type" "$MB" gguf quantize --type q3_x "$MODEL" out.gguf
check_grep "lists the supported types" "unknown or unsupported type 'q3_x' \(supported: q8_0, q4_0" "$T/err"
check_exit 2 "a type we read but do not write" "$MB" gguf quantize --type q5_k "$MODEL" out.gguf
check_exit 2 "--type is required" "$MB" gguf quantize "$MODEL" out.gguf
check_exit 2 "--head checks its type" "$MB" gguf quantize --type q8_0 --head nope "$MODEL" out.gguf
check_grep "names the option" "^error: --head: unknown" "$T/err"
check_exit 2 "IN and OUT are required" "$MB" gguf quantize --type q8_0 "$MODEL"
check_exit 2 "--threads too large" "$MB" gguf quantize --type q8_0 -j 999 "$MODEL" out.gguf
check_exit 2 "OUT may not be IN" "$MB" gguf quantize --type f16 "$MODEL" "$MODEL"
ln -s "$MODEL" alias.gguf
check_exit 2 "nor IN under another name" "$MB" gguf quantize --type f16 "$MODEL" alias.gguf
check_exit 4 "missing input" "$MB" gguf quantize --type q8_0 nothere.gguf out.gguf
echo "not a gguf" >bad.gguf
check_exit 3 "not a GGUF" "$MB" gguf quantize --type q8_0 bad.gguf out.gguf
check_exit 1 "no output was written" test -e out.gguf

# --- re-quantization of the Q4_1 model
check_exit 2 "re-quantizing needs --allow-requantize" "$MB" gguf quantize --type q8_0 "$MODEL" out.gguf
check_grep "says why and what to do" "210 tensors are already quantized \(e.g. 'blk.0.ffn_down.weight' is q4_1\); re-quantizing to q8_0 rounds twice.*--allow-requantize" "$T/err"
check_exit 1 "nothing written" test -e out.gguf
check "--allow-requantize" "$MB" gguf quantize --type q8_0 --allow-requantize "$MODEL" q8-requant.gguf
check_grep "and warns" "^warning: re-quantizing 210 tensors that are already quantized" "$T/err"

# --- dequantize to f16 (not a re-quantization), then quantize from it
check "--type f16 dequantizes" "$MB" gguf quantize --type f16 "$MODEL" f16.gguf
check_grep "summary" "^wrote f16.gguf: 272 tensors, 211 converted to f16 \(0 fell back\), 61 kept" "$T/out"
check "--dry-run" "$MB" gguf quantize --type q4_k --dry-run f16.gguf never.gguf
check_grep "dry run lists each tensor" "blk.0.attn_q.weight +576 x 576 +f16 +-> q5_0 +matrix +fallback from q4_k" "$T/out"
check_grep "the q4_k mix raises ffn_down of layer 0" "blk.0.ffn_down.weight +1536 x 576 +f16 +-> q6_k +matrix +q4_k mix" "$T/out"
check_grep "would write" "^would write never.gguf: 272 tensors, 211 converted to q4_k mix" "$T/out"
check_exit 1 "--dry-run writes nothing" test -e never.gguf
check "q4_k" "$MB" gguf quantize --type q4_k -j 2 f16.gguf q4k.gguf
check_grep "announces the 256-block fallback" "^note: 166 tensors with rows of 576 elements \(not a multiple of 256\) fall back from q4_k to q5_0, as llama.cpp does" "$T/err"
check_grep "and the head's" "^note: 15 tensors with rows of 576 elements \(not a multiple of 256\) fall back from q6_k to q8_0" "$T/err"
check_grep "progress is reported" "q4k.gguf: (100%|[0-9.]+ MiB)" "$T/err"
check "gguf inspect the result" "$MB" gguf inspect --json q4k.gguf
cp "$T/out" q4k.json
check "file_type 15 (Q4_K_M) and the types llama.cpp uses" "$PY" -c '
import json, sys, collections
d = json.load(open(sys.argv[1]))
kv = {m["key"]: m["value"] for m in d["metadata"]}
assert kv["general.file_type"] == 15, kv["general.file_type"]
assert kv["general.quantization_version"] == 2
types = collections.Counter(t["type"] for t in d["tensors"])
assert types == {"q5_0": 166, "q6_K": 14, "q4_K": 16, "q8_0": 15, "f32": 61}, types
' q4k.json

# --- --json and --stats
check "--json --stats" "$MB" gguf quantize --type q4_0 --stats --json f16.gguf q40.gguf
cp "$T/out" q40.json
check "--json is consistent" "$PY" -c '
import json, sys, os
d = json.load(open(sys.argv[1]))
ts = d["tensors"]
assert d["type"] == "q4_0" and d["converted"] == 211 and d["requantized"] == 0
assert sum(t["bytes_out"] for t in ts) == d["bytes_out"]
assert sum(t["bytes_in"] for t in ts) == d["bytes_in"]
conv = [t for t in ts if t["from"] != t["to"]]
assert len(conv) == 211 and all("rmse" in t for t in conv)
assert all(0 < t["rel_rmse"] < 0.2 for t in conv), max(t["rel_rmse"] for t in conv)
head = [t for t in ts if t["name"] == "token_embd.weight"][0]
assert head["role"] == "head" and head["to"] == "q8_0" and head["want"] == "q6_k" and head["fallback"]
assert head["rel_rmse"] < 0.01  # 8 bits on the head
assert os.path.getsize(sys.argv[2]) > d["bytes_out"]
' q40.json q40.gguf
check "--stats in text" "$MB" gguf quantize --type q8_0 --stats f16.gguf q80.gguf
check_grep "per-tensor error" "blk.0.attn_q.weight .* rmse [0-9.e-]+ \([0-9.]+%\) max" "$T/out"
check_grep "overall error" "^quantization error over [0-9]+ converted elements: rmse" "$T/out"

# --- the runtime runs what we wrote (q4_k mixes q4_K, q5_0, q6_K and q8_0)
check "run on the q4_k file" "$MB" run -m q4k.gguf --raw -p "The capital of France is" -n 4 --temp 0 -t 2
check_grep "generates text" "[A-Za-z]" "$T/out"

# --- the input never changes
check_eq "the model file is untouched" "$(sum "$MODEL")" "$before"

# --- disk full: a 120 MiB tmpfs cannot hold the 256 MiB f16 file (but 86 MiB of q4_0)
mkdir full
if mount -t tmpfs -o size=120m tmpfs full 2>/dev/null; then
    at_exit "umount '$T/full'"
    check_exit 9 "disk full is an I/O error" "$MB" gguf quantize --type f16 "$MODEL" full/f16.gguf
    check_grep "says so" "No space left on device" "$T/err"
    check_eq "no partial file is left" "$(ls -A full)" ""
    check "a smaller output fits" "$MB" gguf quantize --type q4_0 --allow-requantize "$MODEL" full/q40.gguf
    mount -o remount,ro full
    check_exit 9 "a read-only target" "$MB" gguf quantize --type q4_0 --allow-requantize "$MODEL" full/other.gguf
    check_grep "is refused" "Read-only file system" "$T/err"
else
    echo "skip - cannot mount a tmpfs (not root?): no disk-full check"
fi
check_eq "the model file is still untouched" "$(sum "$MODEL")" "$before"
finish
