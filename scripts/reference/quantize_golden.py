#!/usr/bin/env python3
"""quantize_golden.py - golden data for the quantization tests, from the reference
implementations (CI never runs this; rerun it when the inputs should change):

  quantize_golden.py blocks
      tests/data/quantize/blocks.f32      2560 float32 inputs (10 rows of 256 with
                                          different distributions: gaussian, uniform,
                                          heavy-tailed, positive, tiny, spikes,
                                          constant, zeros, ties, mixed scales)
      tests/data/quantize/blocks.<type>   the bytes of those rows quantized by
                                          gguf-py's gguf.quants.quantize (f16, bf16,
                                          q8_0, q4_0, q4_1, q5_0, q5_1) and by
                                          llama.cpp's ggml_quantize_chunk from the
                                          installed llama-cpp-python (q4_K, q6_K, and
                                          the 32-block types again, which must agree)

  quantize_golden.py perplexity [--model FILE.gguf]
      tests/data/quantize/perplexity.json llama.cpp's perplexity (llama-cpp-python,
                                          scripts/reference/perplexity_llamacpp.py's
                                          method) of tests/data/quantize/ppl-text.txt
                                          (the first 36,000 bytes of git's release
                                          notes, the text of scripts/bench/quantize.sh)
                                          at ctx 512 over 16 chunks, for the real
                                          SmolLM2 Q4_1 file and for F16, Q8_0 and Q4_0
                                          files made from it by llama.cpp's quantizer
                                          (llama_model_quantize), with the sha256 of
                                          each file's tensor data so the test can check
                                          that our quantizer made the same tensors.
"""
import argparse
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "quantize")
GGUF_PY_TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
# 16 chunks of 512 (4,080 scored tokens): enough that the run-to-run noise between
# two correct implementations (about 0.6% per chunk for the 8-bit types, see
# t8040-perplexity.py) averages below 0.2%, so the 0.5% bound can be asserted
CTX = 512
CHUNKS = 16
GGML_IDS = {"Q8_0": 8, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q4_K": 12, "Q6_K": 14}


def inputs():
    rng = np.random.default_rng(20261123)
    n = 256
    rows = [
        rng.standard_normal(n),
        rng.uniform(-1, 1, n),
        rng.standard_t(2, n),
        np.abs(rng.standard_normal(n)) + 0.5,
        rng.standard_normal(n) * 1e-6,
        np.where(rng.uniform(size=n) < 0.03, 50.0, 1.0) * rng.standard_normal(n),
        np.full(n, 0.375),
        np.zeros(n),
        np.round(rng.standard_normal(n) * 4) / 8,
        rng.standard_normal(n) * np.repeat(10.0 ** rng.uniform(-4, 2, n // 16), 16),
    ]
    return np.concatenate(rows).astype(np.float32)


def ggml_quantize(x, name):
    lib = os.path.join(os.path.dirname(__import__("llama_cpp").__file__), "lib", "libggml-base.so")
    g = ctypes.CDLL(lib)
    g.ggml_quantize_chunk.restype = ctypes.c_size_t
    g.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                      ctypes.c_void_p]
    g.ggml_quantize_init.argtypes = [ctypes.c_int]
    block, size = gguf.GGML_QUANT_SIZES[T[name]]
    out = np.zeros(len(x) // block * size, np.uint8)
    g.ggml_quantize_init(GGML_IDS[name])
    g.ggml_quantize_chunk(GGML_IDS[name], x.ctypes.data, out.ctypes.data, 0, len(x) // 256, 256,
                          None)
    return out


def cmd_blocks(_):
    os.makedirs(DATA, exist_ok=True)
    x = inputs()
    x.tofile(os.path.join(DATA, "blocks.f32"))
    for name in GGUF_PY_TYPES:
        q = np.ascontiguousarray(gguf.quants.quantize(x.reshape(-1, 256), T[name]))
        q = q.view(np.uint8).ravel()
        if name in GGML_IDS:
            assert np.array_equal(q, ggml_quantize(x, name)), f"gguf-py and ggml differ on {name}"
        q.tofile(os.path.join(DATA, "blocks." + name.lower()))
    for name in ["Q4_K", "Q6_K"]:
        ggml_quantize(x, name).tofile(os.path.join(DATA, "blocks." + name.lower()))
    print("wrote", DATA)


def tensor_digest(path):
    r = gguf.GGUFReader(path)
    h = hashlib.sha256()
    for t in sorted(r.tensors, key=lambda t: t.name):
        h.update(t.name.encode() + b"\0" + str(int(t.tensor_type)).encode() + b"\0")
        h.update(np.ascontiguousarray(t.data).view(np.uint8).tobytes())
    return h.hexdigest()


def llama_quantize(src, dst, ftype):
    import llama_cpp
    llama_cpp.llama_backend_init()
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.allow_requantize = True
    if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) != 0:
        sys.exit(f"llama_model_quantize {src} -> {dst} failed")


def cmd_perplexity(a):
    text = os.path.join(DATA, "ppl-text.txt")
    ppl = os.path.join(ROOT, "scripts", "reference", "perplexity_llamacpp.py")
    out = {"text": "tests/data/quantize/ppl-text.txt", "ctx": CTX, "chunks": CHUNKS, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"q4_1-original": a.model}
        files["f16"] = os.path.join(tmp, "f16.gguf")
        llama_quantize(a.model, files["f16"], 1)  # LLAMA_FTYPE_MOSTLY_F16
        for name, ftype in [("q8_0", 7), ("q4_0", 2)]:
            files[name] = os.path.join(tmp, name + ".gguf")
            llama_quantize(files["f16"], files[name], ftype)
        for name, path in files.items():
            r = subprocess.run([sys.executable, ppl, "-m", path, "-f", text, "-c", str(CTX),
                                "--chunks", str(CHUNKS), "--json"], check=True, capture_output=True)
            res = json.loads(r.stdout)
            out["models"][name] = {"ppl": res["ppl"], "ppl_err": res["ppl_err"],
                                   "tokens": res["tokens"], "scored": res["scored"],
                                   "tensor_sha256": tensor_digest(path)}
            print(name, res["ppl"], file=sys.stderr)
        import llama_cpp
        out["llama_cpp_python"] = llama_cpp.__version__
    with open(os.path.join(DATA, "perplexity.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("blocks")
    p = sub.add_parser("perplexity")
    p.add_argument("--model", default=os.path.expanduser(
        "~/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    a = ap.parse_args()
    {"blocks": cmd_blocks, "perplexity": cmd_perplexity}[a.cmd](a)


if __name__ == "__main__":
    main()
