# t8030-pack-quantize.sh - `pack quantize` end to end: a data pack (F32 expert
# blocks, adapters, norms, routing keys) becomes a q4_0 copy whose pack.yaml
# keeps its comments and says `quantization: Q4_0` and `version: 1.2.0+q4-0`
# (also in the GGUF), with adapters F16 and norms/keys F32; `pack build` and
# `pack verify` accept it. Re-quantization, unknown types, existing outputs,
# a read-only target, a full disk and a read-only input are handled with clear
# errors and the documented exit statuses - and in every case the input pack
# is byte-for-byte what it was, and no output or staging directory is left.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
cd "$T"

# A data pack: 2 blocks of width 256 (K-quant friendly), adapters to a 576-wide base.
make_gguf() { # OUT VERSION
    "$PY" - "$1" "$2" <<'EOF'
import sys, numpy as np, gguf
out, version = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(7)
w = gguf.GGUFWriter(out, "llama")
w.add_string("modularbase.kind", "data")
w.add_string("modularbase.pack.id", "med")
w.add_string("modularbase.pack.version", version)
w.add_uint32("modularbase.pack.width", 256)
w.add_tensor("adapter_in.weight", (rng.standard_normal((256, 576)) * 0.02).astype(np.float32))
w.add_tensor("adapter_out.weight", (rng.standard_normal((576, 256)) * 0.02).astype(np.float32))
w.add_tensor("routing.keys", rng.standard_normal((4, 576)).astype(np.float32))
for b in range(2):
    w.add_tensor(f"blk.{b}.attn_norm.weight", np.ones(256, np.float32))
    w.add_tensor(f"blk.{b}.ffn_norm.weight", np.ones(256, np.float32))
    for n, shape in [("attn_q", (256, 256)), ("attn_k", (64, 256)), ("attn_v", (64, 256)),
                     ("attn_output", (256, 256)), ("ffn_gate", (768, 256)),
                     ("ffn_up", (768, 256)), ("ffn_down", (256, 768))]:
        w.add_tensor(f"blk.{b}.{n}.weight", (rng.standard_normal(shape) * 0.02).astype(np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
EOF
}
tree_sum() { (cd "$1" && find . -type f -exec sha256sum {} + | sort | sha256sum | cut -d' ' -f1); }
types_of() { # GGUF -> "name=type ..." for every tensor
    "$MB" gguf inspect --json "$1" | "$PY" -c '
import json, sys
print(" ".join("%s=%s" % (t["name"], t["type"]) for t in json.load(sys.stdin)["tensors"]))'
}
gguf_str() { # GGUF KEY
    "$MB" gguf inspect --json "$1" | "$PY" -c '
import json, sys
print({m["key"]: m["value"] for m in json.load(sys.stdin)["metadata"]}[sys.argv[1]])' "$2"
}

"$MB" pack init med --id med --domain medicine --license MIT >/dev/null 2>&1
sed -i 's/^version: 0.1.0/version: 1.2.0/; s/^  quantization: Q8_0/  quantization: F32/' med/pack.yaml
make_gguf med/weights/med.gguf 1.2.0
check "the input pack builds" "$MB" pack build med -o .
before=$(tree_sum med)

# --- q4_0
check "pack quantize --type q4_0" "$MB" pack quantize med --type q4_0
check_grep "names the new version" "^pack 'med' 1.2.0 -> 1.2.0\+q4-0 written to 'med-q4_0' \(weights.quantization: Q4_0\)" "$T/out"
check_grep "reports the weights it wrote" "^wrote med-q4_0/weights/med.gguf: 21 tensors, 16 converted to q4_0" "$T/out"
check_grep "version in pack.yaml" "^version: 1.2.0\+q4-0$" med-q4_0/pack.yaml
check_grep "weights.quantization" "^  quantization: Q4_0$" med-q4_0/pack.yaml
check_grep "the comments survive" "^# SemVer 2.0.0: bump MAJOR" med-q4_0/pack.yaml
check_eq "only those two lines changed" "$(diff med/pack.yaml med-q4_0/pack.yaml | grep -c '^[<>]')" "4"
check_eq "the GGUF's pack version" "$(gguf_str med-q4_0/weights/med.gguf modularbase.pack.version)" "1.2.0+q4-0"
types=$(types_of med-q4_0/weights/med.gguf)
check_grep "expert blocks are q4_0" "blk.1.ffn_down.weight=q4_0" <(echo "$types")
check_grep "adapters are f16" "adapter_in.weight=f16 adapter_out.weight=f16" <(echo "$types")
check_grep "routing keys and norms stay f32" "routing.keys=f32 blk.0.attn_norm.weight=f32" <(echo "$types")
check "docs are copied" cmp med/README.md med-q4_0/README.md
check "pack build of the quantized pack" "$MB" pack build med-q4_0 -o .
check_grep "its archive carries the build metadata" "built ./med-1.2.0\+q4-0.mbpack" "$T/out"
check "pack verify" "$MB" pack verify med-1.2.0+q4-0.mbpack
check_eq "the input pack is untouched" "$(tree_sum med)" "$before"

# --- sizes: q8_0 and q4_0 against the pack's f16 copy (expert blocks and totals)
check "f16 copy" "$MB" pack quantize med --type f16 -o med-f16
check "q8_0 copy" "$MB" pack quantize med --type q8_0 -o med-q8
check "q4_k copy (256-wide rows: no fallback)" "$MB" pack quantize med --type q4_k -o med-q4k
check_grep "no fallback note" "^wrote .* \(0 fell back\)" "$T/out"
check "sizes shrink as expected" "$PY" - med-f16 med-q8 med-q4_0 <<'EOF'
import sys, gguf
def sizes(d):
    r = gguf.GGUFReader(d + "/weights/med.gguf")
    blocks = sum(int(t.n_bytes) for t in r.tensors if t.name.startswith("blk.") and len(t.shape) > 1)
    return blocks, sum(int(t.n_bytes) for t in r.tensors)
(bf, tf), (b8, t8), (b4, t4) = (sizes(d) for d in sys.argv[1:])
assert abs(b8 / bf - 34 / 64) < 1e-9, b8 / bf   # 8.5 of 16 bits
assert abs(b4 / bf - 18 / 64) < 1e-9, b4 / bf   # 4.5 of 16 bits
assert t8 < tf * 0.62 and t4 < tf * 0.42, (t8 / tf, t4 / tf)  # adapters stay f16
EOF

# --- re-quantization, unknown types, bad directories
check_exit 2 "re-quantizing a q4_0 pack needs --allow-requantize" "$MB" pack quantize med-q4_0 --type q8_0 -o requant
check_grep "says how" "already quantized.*pass --allow-requantize" "$T/err"
check_exit 1 "and writes nothing" test -e requant
check "--allow-requantize" "$MB" pack quantize med-q4_0 --type q8_0 --allow-requantize -o requant
check_grep "warns" "^warning: re-quantizing 14 tensors" "$T/err"
check_grep "the quantization tag is replaced, not appended" "^version: 1.2.0\+q8-0$" requant/pack.yaml
check_exit 2 "unknown type" "$MB" pack quantize med --type q9_9 -o x
check_exit 2 "no --type" "$MB" pack quantize med -o x
check_exit 4 "no such directory" "$MB" pack quantize nowhere --type q4_0
mkdir empty
check_exit 4 "no pack.yaml" "$MB" pack quantize empty --type q4_0 -o x
check_exit 1 "an existing, non-empty output" "$MB" pack quantize med --type q4_0 -o med-q4_0
check_grep "is refused" "'med-q4_0' already exists and is not empty" "$T/err"
check_exit 2 "the input as output" "$MB" pack quantize med --type q4_0 -o med/
check "an existing empty output directory is fine" "$MB" pack quantize med --type q4_0 -o empty
check_grep "it was filled" "^version: 1.2.0\+q4-0$" empty/pack.yaml
check "--dry-run" "$MB" pack quantize med --type q4_0 -o dry --dry-run
check_grep "says what it would do" "^would write pack 'med' 1.2.0 -> 1.2.0\+q4-0 in 'dry'" "$T/out"
check_exit 1 "--dry-run writes nothing" test -e dry
check "--json" "$MB" pack quantize med --type q5_0 -o med-q5 --json
cp "$T/out" q5.json
check "--json has the pack" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["pack"] == {"id": "med", "version_in": "1.2.0", "version": "1.2.0+q5-0",
                     "quantization": "Q5_0", "dir": "med-q5"}, d["pack"]
assert d["converted"] == 16 and d["type"] == "q5_0"
' q5.json

# --- manifests the text edit cannot handle are re-emitted; other build metadata is kept
cp -r med flow
sed -i 's/^version: 1.2.0/version: 1.2.0+build.7/' flow/pack.yaml
"$PY" - flow/pack.yaml <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"weights:\n(  #.*\n)?  file: (\S+)\n  quantization: F32\n", r"weights: {file: \2}\n", s)
open(p, "w").write(s)
EOF
make_gguf flow/weights/med.gguf 1.2.0+build.7
check "flow-style weights" "$MB" pack quantize flow --type q8_0 -o flow-q8
check_grep "says the manifest was re-emitted" "rewritten in canonical form" "$T/err"
check_grep "keeps other build metadata" "^version: \"?1.2.0\+build.7.q8-0\"?$" flow-q8/pack.yaml
check_grep "adds weights.quantization" "quantization: Q8_0" flow-q8/pack.yaml
check "and it builds" "$MB" pack build flow-q8 -o .

# --- a missing quantization field is added after file:
cp -r med noquant
sed -i '/^  quantization: F32$/d' noquant/pack.yaml
check "no weights.quantization" "$MB" pack quantize noquant --type q4_1 -o noquant-q41
check_grep "is inserted" "^  quantization: Q4_1$" noquant-q41/pack.yaml
check_exit 1 "without re-emitting" grep -q "canonical form" "$T/err"

# --- read-only target, full disk, read-only input (need root for mounts)
mkdir ro full roin
if mount -t tmpfs -o size=4m,ro tmpfs ro 2>/dev/null; then
    at_exit "umount '$T/ro'"
    check_exit 9 "a read-only target" "$MB" pack quantize med --type q4_0 -o ro/out
    check_grep "names the problem" "Read-only file system" "$T/err"
    # 600 KiB: pack.yaml and docs fit, the 0.6 MiB q8_0 GGUF does not
    mount -t tmpfs -o size=600k tmpfs full
    at_exit "umount '$T/full'"
    check_exit 9 "a full disk" "$MB" pack quantize med --type q8_0 -o full/out
    check_grep "says so" "No space left on device" "$T/err"
    check_eq "nothing is left on the full disk" "$(ls -A full)" ""
    mount --bind med roin && mount -o remount,bind,ro roin
    at_exit "umount '$T/roin'"
    check "a read-only input pack is fine" "$MB" pack quantize roin --type q4_0 -o roin-q4
    check "its copy builds" "$MB" pack build roin-q4 -o .
else
    echo "skip - cannot mount tmpfs (not root?): no read-only / disk-full checks"
fi
check_eq "the input pack is still untouched" "$(tree_sum med)" "$before"
check_eq "no staging directories are left" "$(ls -d ./*.tmp.* 2>/dev/null | wc -l)" "0"
finish
