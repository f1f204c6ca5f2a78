#!/usr/bin/env python3
"""t8010-quantize-pyref.py - `gguf quantize` is byte-identical to the reference
quantizers, on random data and on the real model:

  - random F32 and F16 tensors (gaussian, uniform, heavy-tailed, tiny, positive,
    spiky) written by gguf-py, quantized with --pure to every type gguf-py
    implements (q8_0, q4_0, q4_1, q5_0, q5_1, f16, bf16): every tensor equals
    gguf.quants.quantize of the same float32 data, byte for byte; to q4_k and
    q6_k: every tensor equals llama.cpp's ggml_quantize_chunk (libggml-base of
    the installed llama-cpp-python) on the same data;
  - the real SmolLM2 (Q4_1): `--type f16` dequantizes it exactly as gguf-py
    does (dequantize, then float16); from that F16 file every type again equals
    gguf-py on a sample of real tensors (every tensor of blocks 0 and 29 and
    the 49152 x 576 embedding);
  - whole files against llama.cpp's own quantizer (llama_model_quantize, no
    imatrix) from the same F16 file: q8_0, q4_0, q4_1 and q4_k (its Q4_K_M
    mix, with the 576-wide fallbacks) give the same type and the same bytes for
    every one of the 272 tensors, and the same general.file_type.
"""
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_ref  # noqa: E402
from gguf_ref import GGMLQuantizationType as T, gguf, run_mb  # noqa: E402

c = gguf_ref.Checker()
rng = np.random.default_rng(8010)
PY_TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16"]
GGML_IDS = {"q4_k": 12, "q6_k": 14}
SAN = os.environ.get("MB_SANITIZE", "").upper() in ("1", "ON", "TRUE")

try:
    import llama_cpp
except ImportError:
    llama_cpp = None


def ref_bytes(x, name):
    """gguf-py's bytes for float32 data x (rows of its last dimension)."""
    if name == "f16":
        return x.astype(np.float16).view(np.uint8).ravel()
    q = gguf.quants.quantize(x, T[name.upper()])
    return np.ascontiguousarray(q).view(np.uint8).ravel()


def ggml_bytes(x, name):
    lib = os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so")
    g = ctypes.CDLL(lib)
    g.ggml_quantize_chunk.restype = ctypes.c_size_t
    g.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                      ctypes.c_void_p]
    g.ggml_quantize_init.argtypes = [ctypes.c_int]
    x = np.ascontiguousarray(x, dtype=np.float32)
    block, size = gguf.GGML_QUANT_SIZES[T[name.upper()]]
    out = np.zeros(x.size // block * size, np.uint8)
    g.ggml_quantize_init(GGML_IDS[name])
    g.ggml_quantize_chunk(GGML_IDS[name], x.ctypes.data, out.ctypes.data, 0,
                          x.size // x.shape[-1], x.shape[-1], None)
    return out


def quantize(inp, out, *args):
    p = run_mb("gguf", "quantize", *args, inp, out, timeout=900)
    if p.returncode != 0:
        print(p.stderr.decode()[-2000:])
    return p.returncode == 0


def tensors(path):
    return {t.name: t for t in gguf.GGUFReader(path).tensors}


def random_file(path, dtype):
    w = gguf.GGUFWriter(path, "llama")
    data = {
        "blk.0.gauss.weight": rng.standard_normal((64, 512)),
        "blk.0.uniform.weight": rng.uniform(-0.1, 0.1, (33, 256)),
        "blk.0.heavy.weight": rng.standard_t(2, (16, 768)),
        "blk.0.tiny.weight": rng.standard_normal((8, 256)) * 1e-6,
        "blk.0.pos.weight": np.abs(rng.standard_normal((8, 256))) + 1,
        "blk.0.spiky.weight": rng.standard_normal((8, 1536)) * np.where(
            rng.uniform(size=(8, 1536)) < 0.01, 40.0, 1.0),
        "blk.0.ties.weight": np.round(rng.standard_normal((8, 256)) * 8) / 16,
    }
    out = {}
    for name, x in data.items():
        x = x.astype(dtype)
        w.add_tensor(name, x)
        out[name] = x.astype(np.float32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def compare_file(path, src, name, ref, label):
    got = tensors(path)
    bad = []
    for tname, x in src.items():
        t = got.get(tname)
        if t is None or t.tensor_type.name.lower() != name:
            bad.append(f"{tname}: type {t.tensor_type.name if t else None}")
            continue
        want = ref(x, name)
        have = np.ascontiguousarray(t.data).view(np.uint8).ravel()
        if not np.array_equal(have, want):
            bad.append(f"{tname}: {int((have != want).sum())} bytes differ")
    c.check(not bad, f"{label}: {name}: {len(src)} tensors byte-identical", "; ".join(bad[:3]))


def random_checks(tmp):
    for dtype, label in [(np.float32, "random f32"), (np.float16, "random f16")]:
        src_path = os.path.join(tmp, f"src-{label[-3:]}.gguf")
        src = random_file(src_path, dtype)
        for name in PY_TYPES:
            out = os.path.join(tmp, f"rand-{name}.gguf")
            if not c.check(quantize(src_path, out, "--pure", "--type", name),
                           f"{label}: quantize --type {name}"):
                continue
            compare_file(out, src, name, ref_bytes, f"{label} vs gguf-py")
        if llama_cpp is None:
            print("skip - llama_cpp missing: no ggml comparison")
            continue
        for name in GGML_IDS:
            out = os.path.join(tmp, f"rand-{name}.gguf")
            if c.check(quantize(src_path, out, "--pure", "--type", name),
                       f"{label}: quantize --type {name}"):
                compare_file(out, src, name, ggml_bytes, f"{label} vs llama.cpp's ggml")


_quiet = None


def llama_quantize(src, dst, ftype):
    global _quiet
    if _quiet is None:  # keep the callback alive: llama.cpp calls it later
        _quiet = llama_cpp.llama_log_callback(lambda *a: None)
        llama_cpp.llama_log_set(_quiet, None)
    llama_cpp.llama_backend_init()
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = 2
    return llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) == 0


def real_checks(tmp, model):
    f16 = os.path.join(tmp, "real-f16.gguf")
    if not c.check(quantize(model, f16, "--type", "f16"), "real model: --type f16 (dequantize)"):
        return
    orig, deq = tensors(model), tensors(f16)
    bad = []
    for name, t in orig.items():
        d = deq[name]
        if t.tensor_type in (T.F32,):
            ok = d.tensor_type == T.F32 and np.array_equal(np.asarray(d.data), np.asarray(t.data))
        else:
            want = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float16)
            ok = d.tensor_type == T.F16 and np.array_equal(
                np.asarray(d.data).view(np.uint16).ravel(), want.view(np.uint16).ravel())
        if not ok:
            bad.append(name)
    c.check(not bad, f"real model: f16 equals gguf-py's dequantize -> float16 for all "
            f"{len(orig)} tensors (norms stay f32)", ", ".join(bad[:3]))

    sample = [n for n in deq if n.startswith(("blk.0.", "blk.29.")) or n == "token_embd.weight"]
    sample = [n for n in sample if deq[n].tensor_type == T.F16]
    src = {n: np.asarray(deq[n].data).astype(np.float32) for n in sample}
    types = PY_TYPES[:5] if not SAN else ["q8_0", "q4_0"]
    for name in types:
        out = os.path.join(tmp, f"real-{name}.gguf")
        if c.check(quantize(f16, out, "--pure", "--type", name),
                   f"real model: quantize --pure --type {name}"):
            compare_file(out, src, name, ref_bytes, "real tensors vs gguf-py")
        os.unlink(out)

    if llama_cpp is None:
        print("skip - llama_cpp missing: no llama_model_quantize comparison")
        return
    cases = [("q8_0", 7), ("q4_0", 2), ("q4_1", 3), ("q4_k", 15)]
    if SAN:
        cases = [("q4_0", 2), ("q4_k", 15)]
    for name, ftype in cases:
        ours, theirs = os.path.join(tmp, f"ours-{name}.gguf"), os.path.join(tmp, f"ll-{name}.gguf")
        if not (c.check(quantize(f16, ours, "--type", name), f"real model: ours --type {name}")
                and c.check(llama_quantize(f16, theirs, ftype),
                            f"real model: llama_model_quantize ftype {ftype}")):
            continue
        a, b = tensors(ours), tensors(theirs)
        bad = [n for n in b if n not in a or a[n].tensor_type != b[n].tensor_type
               or not np.array_equal(np.asarray(a[n].data).view(np.uint8),
                                     np.asarray(b[n].data).view(np.uint8))]
        kinds = sorted({t.tensor_type.name for t in a.values()})
        c.check(not bad and len(a) == len(b),
                f"real model {name}: all {len(b)} tensors have llama.cpp's type and bytes "
                f"({', '.join(kinds)})", ", ".join(bad[:3]))
        fa = gguf.GGUFReader(ours).fields["general.file_type"].contents()
        fb = gguf.GGUFReader(theirs).fields["general.file_type"].contents()
        c.check(fa == fb == ftype, f"real model {name}: general.file_type {fa} == {fb}")
        os.unlink(ours)
        os.unlink(theirs)


def main():
    model = os.environ.get("MB_MODEL") or os.path.expanduser(
        "~/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    with tempfile.TemporaryDirectory() as tmp:
        random_checks(tmp)
        if os.path.exists(model):
            real_checks(tmp, model)
        elif os.environ.get("MB_REQUIRE_MODEL") == "1":
            c.check(False, f"the real model is required but missing at {model}")
        else:
            print(f"skip - real model not fetched ({model})")
    c.finish()


if __name__ == "__main__":
    main()
