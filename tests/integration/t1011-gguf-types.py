#!/usr/bin/env python3
"""t1011-gguf-types.py - every tensor type we read, on files gguf-py writes.

gguf-py's GGUFWriter writes small files with tensors of every type we
dequantize: F32 and F16 from numpy, BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 quantized
by gguf.quants.quantize, and Q4_K/Q5_K/Q6_K (which gguf-py cannot quantize)
as random raw blocks with finite f16 scales. For each file, our reader must
agree with gguf-py's on metadata and tensors and our dequantization must be
bit-identical to gguf.quants.dequantize -- so each type is covered even where
SmolLM2 lacks it. Also: multi-dimensional shapes, a GGUF v2 variant, types we
read but cannot dequantize (Q2_K: inspect works, dump-tensor says why not),
and NaN/Inf/subnormal scales.
"""
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_ref  # noqa: E402
from gguf_ref import GGMLQuantizationType as T, gguf  # noqa: E402

rng = np.random.default_rng(20241123)
c = gguf_ref.Checker()


def f16_scales(n, special=False):
    """n finite f16 scales of varied magnitude (with special=True: also 0, subnormals)."""
    v = rng.standard_normal(n) * rng.choice([1e-4, 1e-2, 1.0, 30.0], n)
    v = v.astype(np.float16)
    if special:
        v[::7] = 0
        v[3::11] = np.frombuffer(np.uint16(5).tobytes(), np.float16)[0]  # subnormal
    return v.view(np.uint8).reshape(n, 2)


def random_blocks(qtype, n_blocks, special=False):
    """Random bytes in qtype's block layout, with valid finite f16 scales."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    if qtype in (T.Q4_K, T.Q5_K, T.Q4_1, T.Q5_1):  # d, then dmin / m
        raw[:, 0:2] = f16_scales(n_blocks, special)
        raw[:, 2:4] = f16_scales(n_blocks, special)
    elif qtype == T.Q6_K:  # d is the last field
        raw[:, 208:210] = f16_scales(n_blocks, special)
    elif qtype == T.Q2_K:  # scales[16], qs[64], d, dmin
        raw[:, 80:82] = f16_scales(n_blocks)
        raw[:, 82:84] = f16_scales(n_blocks)
    else:  # Q8_0, Q4_0, Q5_0: d first
        raw[:, 0:2] = f16_scales(n_blocks, special)
    return raw


def write_types_file(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint32("llama.block_count", 2)
    w.add_string("general.name", "types")
    data = (rng.standard_normal((4, 512)) * 3).astype(np.float32)
    data[0, :5] = [0.0, -0.0, 1e-30, 65504.0, -1e-8]
    w.add_tensor("f32", data)
    w.add_tensor("f16", data.astype(np.float16))
    w.add_tensor("f32.3d", rng.standard_normal((2, 3, 64)).astype(np.float32))
    for qt in (T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
        qd = gguf.quants.quantize(data, qt)
        w.add_tensor(qt.name.lower(), qd, raw_shape=qd.shape, raw_dtype=qt)
    q4d = gguf.quants.quantize(rng.standard_normal((3, 2, 64)).astype(np.float32), T.Q4_0)
    w.add_tensor("q4_0.3d", q4d, raw_shape=q4d.shape, raw_dtype=T.Q4_0)
    for qt in (T.Q4_K, T.Q5_K, T.Q6_K):
        raw = random_blocks(qt, 4 * 4).reshape(4, -1)  # 4 rows of 1024 elements
        w.add_tensor(qt.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_special_file(path):
    """Scales that are zero or subnormal, for every block type."""
    w = gguf.GGUFWriter(path, "llama")
    for qt in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K):
        block, _ = gguf.GGML_QUANT_SIZES[qt]
        raw = random_blocks(qt, 64, special=True).reshape(2, -1)
        w.add_tensor(qt.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qt)
    bits = rng.integers(0, 1 << 16, size=1024, dtype=np.uint16)  # every f16 bit pattern kind
    w.add_tensor("f16.bits", bits.view(np.float16))
    w.add_tensor("bf16.bits", bits.view(np.uint8), raw_shape=(1024,), raw_dtype=T.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "types.gguf")
    write_types_file(path)
    reader = gguf_ref.GGUFReader(path)
    ours = gguf_ref.inspect_json(path)
    gguf_ref.compare_metadata(c, "types.gguf", ours, reader)
    gguf_ref.compare_tensors(c, "types.gguf", ours, reader)
    types = gguf_ref.compare_dequant(c, path, reader, label="types.gguf")
    c.check(types == gguf_ref.DEQUANT_TYPES, "all 11 types were compared",
            sorted(t.name for t in gguf_ref.DEQUANT_TYPES - types))

    special = os.path.join(tmp, "special.gguf")
    write_special_file(special)
    gguf_ref.compare_file(c, special)

    # The same file as GGUF v2 (v2 and v3 share the little-endian layout).
    v2 = os.path.join(tmp, "types-v2.gguf")
    with open(path, "rb") as f:
        b = bytearray(f.read())
    b[4:8] = (2).to_bytes(4, "little")
    with open(v2, "wb") as f:
        f.write(b)
    gguf_ref.compare_file(c, v2)
    c.check(gguf_ref.inspect_json(v2)["version"] == 2, "a v2 file reports version 2")

    # A type we read but cannot dequantize.
    q2 = os.path.join(tmp, "q2k.gguf")
    w = gguf.GGUFWriter(q2, "llama")
    raw = random_blocks(T.Q2_K, 2)
    w.add_tensor("q2", raw, raw_shape=raw.shape, raw_dtype=T.Q2_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    gguf_ref.compare_file(c, q2, dequant=False)
    p = gguf_ref.run_mb("gguf", "dump-tensor", q2, "q2")
    err = p.stderr.decode()
    c.check(p.returncode == 10 and err.count("\n") == 1 and
            "tensor 'q2' has type q2_K, which cannot be dequantized" in err,
            "dump-tensor refuses q2_K with one line", err.strip())

    # Text and JSON dumps agree with --raw.
    p = gguf_ref.run_mb("gguf", "dump-tensor", "--json", path, "q4_k")
    vals = json.loads(p.stdout)[0]["values"]
    ref = gguf.quants.dequantize(reader.tensors[[t.name for t in reader.tensors].index("q4_k")].data,
                                 T.Q4_K).reshape(-1)
    c.check(len(vals) == ref.size and all(np.float32(a) == b for a, b in zip(vals, ref)),
            "dump-tensor --json prints every value exactly")
c.finish()
