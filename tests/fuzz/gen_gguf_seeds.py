#!/usr/bin/env python3
"""gen_gguf_seeds.py - regenerate the seed corpus of fuzz_gguf (tiny valid GGUF files).

Writes tests/fuzz/corpus/fuzz_gguf/{empty,all-types,all-types-v2,align64,quant-types}
with gguf-py (each under 4 KB). The files are committed; rerun after changing them:
    python3 tests/fuzz/gen_gguf_seeds.py
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_gguf")
rng = np.random.default_rng(1)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def all_types(path, alignment=None):
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("u8", 1)
    w.add_int8("i8", -1)
    w.add_uint16("u16", 2)
    w.add_int16("i16", -2)
    w.add_uint32("u32", 3)
    w.add_int32("i32", -3)
    w.add_float32("f32", 0.5)
    w.add_bool("b", True)
    w.add_string("s", "str")
    w.add_uint64("u64", 4)
    w.add_int64("i64", -4)
    w.add_float64("f64", 0.25)
    w.add_array("tok", ["<unk>", "a", ""])
    w.add_key_value("scores", [0.0, -1.5], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("types", [1, 3], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("flags", [True, False], V.ARRAY, sub_type=V.BOOL)
    w.add_array("nested", [[1, 2], [3]])
    w.add_tensor("t.f32", np.arange(8, dtype=np.float32))
    q = gguf.quants.quantize(np.linspace(-1, 1, 32, dtype=np.float32), T.Q8_0)
    w.add_tensor("t.q8", q, raw_shape=q.shape, raw_dtype=T.Q8_0)
    finish(w)


def quant_types(path):
    w = gguf.GGUFWriter(path, "llama")
    x = np.linspace(-2, 2, 32, dtype=np.float32)
    w.add_tensor("f16", x.astype(np.float16))
    for qt in (T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
        q = gguf.quants.quantize(x, qt)
        w.add_tensor(qt.name.lower(), q, raw_shape=q.shape, raw_dtype=qt)
    for qt in (T.Q4_K, T.Q5_K, T.Q6_K):
        size = gguf.GGML_QUANT_SIZES[qt][1]
        raw = rng.integers(0, 256, size=size, dtype=np.uint8)
        at = 208 if qt == T.Q6_K else 0
        raw[at:at + 2] = np.array([0.01], dtype=np.float16).view(np.uint8)
        if qt != T.Q6_K:
            raw[2:4] = np.array([0.02], dtype=np.float16).view(np.uint8)
        w.add_tensor(qt.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qt)
    finish(w)


os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "empty"), "wb") as f:
    f.write(b"GGUF" + (3).to_bytes(4, "little") + bytes(16))
all_types(os.path.join(OUT, "all-types"))
all_types(os.path.join(OUT, "align64"), alignment=64)
with open(os.path.join(OUT, "all-types"), "rb") as f:
    b = bytearray(f.read())
b[4:8] = (2).to_bytes(4, "little")
with open(os.path.join(OUT, "all-types-v2"), "wb") as f:
    f.write(b)
quant_types(os.path.join(OUT, "quant-types"))
for name in sorted(os.listdir(OUT)):
    size = os.path.getsize(os.path.join(OUT, name))
    assert size < 4096, name
    print(f"{name}: {size} bytes")
