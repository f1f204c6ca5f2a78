#!/usr/bin/env python3
"""t1012-gguf-writer.py - our GGUF writer and reader against gguf-py, both ways.

gguf-py writes a file with every metadata value type (all 12 scalar and
string types, arrays of each, nested arrays, a long string, UTF-8 text) and
tensors of several types and shapes, with a custom alignment:
  - gguf-py -> ours: `modularbase gguf inspect --json` reads the same keys,
    types, values, offsets and tensors;
  - ours -> gguf-py: `modularbase gguf copy` (reader + writer, copying every
    KV verbatim) writes the same bytes as gguf-py did, and with
    --alignment/--drop-key (our writer's own layout) a file that gguf-py reads
    with the same content and tensor data;
  - the copy is atomic (a failed copy leaves the destination untouched).
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_ref  # noqa: E402
from gguf_ref import GGMLQuantizationType as T, GGUFValueType as V, gguf  # noqa: E402

rng = np.random.default_rng(7)
c = gguf_ref.Checker()


def write_all_types(path, alignment=None):
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 255)
    w.add_int8("t.i8", -128)
    w.add_uint16("t.u16", 65535)
    w.add_int16("t.i16", -32768)
    w.add_uint32("t.u32", 4294967295)
    w.add_int32("t.i32", -2147483648)
    w.add_float32("t.f32", 3.14159)
    w.add_bool("t.bool", True)
    w.add_bool("t.bool.false", False)
    w.add_string("t.str", "h\u00e9llo w\u00f6rld \u2581 \U0001f600 \"quoted\" \\ tab\tnewline\n")
    w.add_string("t.long", "x" * 5000)
    w.add_uint64("t.u64", 18446744073709551615)
    w.add_int64("t.i64", -9223372036854775808)
    w.add_float64("t.f64", 2.718281828459045)
    w.add_float64("t.f64.tiny", 5e-324)
    w.add_key_value("t.f32.inf", float("inf"), V.FLOAT32)
    for vt in (V.UINT8, V.INT8, V.UINT16, V.INT16, V.UINT32, V.INT32, V.UINT64, V.INT64):
        lo = -100 if vt.name.startswith("INT") else 0
        w.add_key_value(f"t.arr.{vt.name.lower()}", [lo, 1, 100, 7], V.ARRAY, sub_type=vt)
    w.add_key_value("t.arr.float32", [0.5, -1e-7, 3e38], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("t.arr.float64", [0.1, -2.5], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("t.arr.bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_array("t.arr.string", ["<unk>", "", "\u0120the", "a b"])
    w.add_array("t.arr.nested", [[1, 2, 3], [4], [5, 6]])
    w.add_array("t.arr.nested.str", [["a", "b"], ["c"]])
    w.add_array("t.arr.deep", [[[1], [2, 3]], [[4]]])
    w.add_tensor("w.f32", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_tensor("w.f16", rng.standard_normal((64,)).astype(np.float16))
    q = gguf.quants.quantize(rng.standard_normal((2, 2, 64)).astype(np.float32), T.Q8_0)
    w.add_tensor("w.q8_0", q, raw_shape=q.shape, raw_dtype=T.Q8_0)
    q = gguf.quants.quantize(rng.standard_normal((1, 96)).astype(np.float32), T.Q4_1)
    w.add_tensor("w.q4_1", q, raw_shape=q.shape, raw_dtype=T.Q4_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def same_content(a_path, b_path, ignore=()):
    """gguf-py reads the same KVs (keys, types, values) and tensors (data too) from both."""
    a, b = gguf_ref.GGUFReader(a_path), gguf_ref.GGUFReader(b_path)
    ka = [(k, f.types, f.contents()) for k, f in a.fields.items()
          if not k.startswith("GGUF.") and k not in ignore]
    kb = [(k, f.types, f.contents()) for k, f in b.fields.items()
          if not k.startswith("GGUF.") and k not in ignore]
    if ka != kb:
        return f"metadata differs: {[x[0] for x in ka]} vs {[x[0] for x in kb]}"
    for ta, tb in zip(a.tensors, b.tensors):
        if (ta.name, ta.tensor_type, list(ta.shape)) != (tb.name, tb.tensor_type, list(tb.shape)):
            return f"tensor {ta.name} differs"
        if ta.data.tobytes() != tb.data.tobytes():
            return f"tensor {ta.name}: data differs"
    if len(a.tensors) != len(b.tensors):
        return "tensor count differs"
    return None


with tempfile.TemporaryDirectory() as tmp:
    for align in (None, 64):
        src = os.path.join(tmp, f"all-{align or 32}.gguf")
        write_all_types(src, align)
        # gguf-py -> ours
        gguf_ref.compare_file(c, src)
        # ours -> gguf-py, same layout: identical bytes
        dst = os.path.join(tmp, f"copy-{align or 32}.gguf")
        p = gguf_ref.run_mb("gguf", "copy", src, dst)
        c.check(p.returncode == 0, f"gguf copy of {os.path.basename(src)}", p.stderr.decode())
        with open(src, "rb") as f1, open(dst, "rb") as f2:
            c.check(f1.read() == f2.read(), f"our writer reproduces gguf-py's bytes (alignment {align or 32})")
        c.check(same_content(src, dst) is None, "gguf-py reads our copy with the same content")

    # Our own layout: a different alignment and a dropped key.
    src = os.path.join(tmp, "all-32.gguf")
    dst = os.path.join(tmp, "realigned.gguf")
    p = gguf_ref.run_mb("gguf", "copy", "--alignment", "128", "--drop-key", "t.long", src, dst)
    c.check(p.returncode == 0, "gguf copy --alignment 128 --drop-key t.long", p.stderr.decode())
    r = gguf_ref.GGUFReader(dst)
    c.check(r.alignment == 128 and r.data_offset % 128 == 0, "gguf-py sees alignment 128")
    c.check(all((t.data_offset - r.data_offset) % 128 == 0 for t in r.tensors),
            "every tensor offset is a multiple of 128")
    c.check("t.long" not in r.fields, "the dropped key is gone")
    diff = same_content(src, dst, ignore=("t.long", "general.alignment"))
    c.check(diff is None, "gguf-py reads the realigned copy with the same content", diff)
    gguf_ref.compare_file(c, dst)

    # Copying over the source itself works (the map stays valid after the rename).
    inplace = os.path.join(tmp, "inplace.gguf")
    write_all_types(inplace)
    with open(inplace, "rb") as f:
        before = f.read()
    p = gguf_ref.run_mb("gguf", "copy", inplace, inplace)
    with open(inplace, "rb") as f:
        c.check(p.returncode == 0 and f.read() == before, "gguf copy onto itself")

    # Failures leave the destination untouched and no temp file behind.
    p = gguf_ref.run_mb("gguf", "copy", "--alignment", "48", src, dst)
    err = p.stderr.decode()
    c.check(p.returncode == 2 and "power of two" in err, "--alignment 48 is refused", err.strip())
    p = gguf_ref.run_mb("gguf", "copy", "--drop-key", "no.such.key", src, dst)
    c.check(p.returncode == 4 and "no key 'no.such.key' to drop" in p.stderr.decode(),
            "dropping a missing key is refused")
    r2 = gguf_ref.GGUFReader(dst)
    c.check(r2.alignment == 128, "the destination is untouched after failed copies")
    p = gguf_ref.run_mb("gguf", "copy", src, os.path.join(tmp, "no", "dir", "x.gguf"))
    c.check(p.returncode == 4 and "cannot create" in p.stderr.decode(),
            "a missing output directory is an error")
    c.check(not [f for f in os.listdir(tmp) if ".tmp." in f], "no temp files left")
c.finish()
