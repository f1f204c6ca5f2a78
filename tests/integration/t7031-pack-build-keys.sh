# t7031-pack-build-keys.sh - `pack build --base` computes a data pack's
# routing keys from its routing.examples by running the base, and writes them
# (tensor routing.keys + modularbase.routing.* keys) into the GGUF inside the
# archive: everything else in the GGUF is kept as is, the pack directory is not
# modified, builds are byte-identical (also on one CPU thread), the base pack,
# the installed base and the unsplit model at the same U give the same keys,
# packs without examples get none, and a base the pack does not declare is
# refused.
. "$(dirname "$0")/lib.sh"
need_model
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
cd "$T"
MKGGUF="$SRC/tests/integration/helpers/make_pack_gguf.py"

check "pack import" "$MB" pack import "$MODEL" -o imp
mkdir -p py dist d1 d2 d3 d4 d5 x
"$PY" - "$DATA/routing/examples/python.txt" >py/pack.yaml <<'EOF'
import json, sys
print('id: python\nname: Python\nversion: 1.0.0\nkind: data\ndomain: code')
print('base: smollm2-135m\nbase_compatibility: ["1.0"]\nweights:\n  file: python.gguf\nrouting:\n  examples:')
for line in open(sys.argv[1]).read().splitlines():
    print("    - " + json.dumps(line))
EOF
"$PY" "$MKGGUF" py/python.gguf --id python --version 1.0.0 --tensor-mb 0.5
src_sha=$(sha256sum py/python.gguf py/pack.yaml)

check_exit 2 "--understanding needs --base" "$MB" pack build py -o d1 -u 4
check "pack build --base DIR" "$MB" pack build py -o d1 --base imp/base
check "again" "$MB" pack build py -o d2 --base imp/base
check "same bytes" cmp d1/python-1.0.0.mbpack d2/python-1.0.0.mbpack
if command -v taskset >/dev/null; then
    check "on one CPU" taskset -c 0 "$MB" pack build py -o d3 --base imp/base
    check "same bytes on one CPU" cmp d1/python-1.0.0.mbpack d3/python-1.0.0.mbpack
fi
check "unsplit model at U=4" "$MB" pack build py -o d4 --base "$MODEL" -u 4
check "no temporary files left" test "$(ls -A d1)" = "python-1.0.0.mbpack"
check_eq "pack directory untouched" "$(sha256sum py/python.gguf py/pack.yaml)" "$src_sha"
check "pack verify" "$MB" pack verify d1/python-1.0.0.mbpack

(cd x && zstd -qdc ../d1/python-1.0.0.mbpack | tar x) && mkdir x4 && (cd x4 && zstd -qdc ../d4/python-1.0.0.mbpack | tar x)
check "keys and metadata" "$PY" - py/python.gguf x/python.gguf x4/python.gguf <<'EOF'
import sys
import numpy as np, gguf
src, out, plain = (gguf.GGUFReader(p) for p in sys.argv[1:4])
def kv(r, k):
    f = r.fields[k]
    v = f.parts[f.data[0]]
    return bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING else int(v[0])
keys = {t.name: t for t in out.tensors}["routing.keys"]
k = np.array(keys.data, dtype=np.float64).reshape(-1)
assert keys.tensor_type == gguf.GGMLQuantizationType.F32 and k.size == 576, keys.shape
assert abs(np.linalg.norm(k) - 1) < 1e-5, np.linalg.norm(k)
assert kv(out, "modularbase.routing.base.id") == "smollm2-135m"
assert kv(out, "modularbase.routing.base.version") == "1.0.0"
assert kv(out, "modularbase.routing.understanding") == 4
assert kv(out, "modularbase.routing.dim") == 576
assert kv(out, "modularbase.routing.examples") == 20
# Everything of the source is kept: keys in order, tensors byte for byte.
names = [f for f in out.fields if not f.startswith("modularbase.routing.") and not f.startswith("GGUF.")]
assert names == [f for f in src.fields if not f.startswith("GGUF.")], (names, list(src.fields))
for t in src.tensors:
    o = {t.name: t for t in out.tensors}[t.name]
    assert o.tensor_type == t.tensor_type and np.array_equal(np.array(o.data), np.array(t.data)), t.name
# The unsplit model at U=4 gives the very same key (the split keeps h_u exact).
k4 = np.array({t.name: t for t in plain.tensors}["routing.keys"].data).reshape(-1)
assert np.array_equal(k4, np.array(keys.data).reshape(-1))
print("ok: key norm", np.linalg.norm(k))
EOF

# The installed base by id gives the same archive.
check "build and install the base" "$MB" pack build imp/base -o dist
check "install" "$MB" pack install dist/smollm2-135m-1.0.0.mbpack
check "pack build --base ID" "$MB" pack build py -o d5 --base smollm2-135m
check "same bytes as with the directory" cmp d1/python-1.0.0.mbpack d5/python-1.0.0.mbpack

# Rebuilding from a GGUF that already has keys replaces them (one tensor).
mkdir re && cp py/pack.yaml re/ && cp x/python.gguf re/python.gguf
check "rebuild over keys" "$MB" pack build re -o d5 --base imp/base
check "rebuilt archive equals the first" cmp d1/python-1.0.0.mbpack d5/python-1.0.0.mbpack

# A pack without examples (the general pack) gets no keys: the archive holds its GGUF as is.
check "general with --base" "$MB" pack build imp/general -o d2 --base imp/base
mkdir g && (cd g && zstd -qdc ../d2/general-1.0.0.mbpack | tar x)
check "general GGUF unchanged" cmp g/general.gguf imp/general/general.gguf

# Bases the pack does not declare.
sed -i 's/^base_compatibility: .*/base_compatibility: ["2"]/' py/pack.yaml
check_exit 2 "base version outside base_compatibility" "$MB" pack build py -o d1 --base imp/base
check_grep "says why" "base_compatibility' does not include base version 1.0.0" "$T/err"
sed -i 's/^base_compatibility: .*/base_compatibility: ["1.0"]/; s/^base: .*/base: other-base/' py/pack.yaml
check_exit 2 "another base family" "$MB" pack build py -o d1 --base imp/base
check_grep "names both" "for base 'other-base', not 'smollm2-135m'" "$T/err"
check_exit 4 "unknown base" "$MB" pack build py -o d1 --base no-such-base
check_exit 2 "a data pack is not a base" "$MB" pack build py -o d1 --base imp/general
finish
