#!/usr/bin/env python3
"""t8040-perplexity.py - `eval perplexity` against llama.cpp on the same files.

tests/data/quantize/perplexity.json holds llama.cpp's perplexity of
tests/data/quantize/ppl-text.txt (the first 36,000 bytes of git's release notes,
the start of scripts/bench/quantize.sh's text; 8,920 tokens; ctx 512, 16 chunks,
4,080 scored tokens) for the real SmolLM2 Q4_1 file and for F16, Q8_0 and Q4_0
files that llama.cpp's quantizer made from it, recorded by
scripts/reference/quantize_golden.py with the tensor digest of each file. Here
our `gguf quantize` makes the same three files from the real model (their
tensor digests must equal llama.cpp's: the same bytes), and our perplexity
must be within 0.5% of llama.cpp's for each of them (the issue's bound).

Why 4,080 scored tokens and not fewer: the quantized tensors are the same
bytes, but the two forward passes are not bit-identical (attention: llama.cpp
pads the KV length, uses its own exp and summation order; prefill matmuls:
its tinyBLAS order), and the 8-bit quantization of activations amplifies a
1-ulp difference into logit differences of 0.1-0.8 (docs/kernels.md,
"Agreement with llama.cpp"). Per 255-token chunk this moves the mean NLL by
about 0.6% (standard deviation, measured over 208 chunks for Q8_0/Q4_0/Q4_1;
F16, without 8-bit activations, 0.02%) with no bias: the earlier 252-token
version of this test needed 2% for Q8_0/Q4_0. Over 16 chunks the difference is
0.13% (Q8_0), -0.15% (Q4_0), 0.005% (F16); over 106k tokens
(scripts/bench/quantize.sh) 0.04%, 0.05%, 0.00002%.

Also: the ordering (F16 < Q4_0), the run's structure (--json: tokens, chunks,
scored tokens, no BOS for SmolLM2), per-chunk progress, and errors (a text too
short for two chunks, an odd --ctx, a missing text file).
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_ref  # noqa: E402
from gguf_ref import gguf, run_mb  # noqa: E402

c = gguf_ref.Checker()
SRC = os.environ.get("MB_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DATA = os.path.join(SRC, "tests", "data", "quantize")
TOL = {"q4_1-original": 0.005, "f16": 0.005, "q8_0": 0.005, "q4_0": 0.005}
CTX, CHUNKS = 512, 16
SAN = os.environ.get("MB_SANITIZE", "").upper() in ("1", "ON", "TRUE")


def tensor_digest(path):
    """The digest quantize_golden.py records: names, types and bytes, by name."""
    r = gguf.GGUFReader(path)
    h = hashlib.sha256()
    for t in sorted(r.tensors, key=lambda t: t.name):
        h.update(t.name.encode() + b"\0" + str(int(t.tensor_type)).encode() + b"\0")
        h.update(np.ascontiguousarray(t.data).view(np.uint8).tobytes())
    return h.hexdigest()


def ppl(model, *extra, chunks=CHUNKS):
    p = run_mb("eval", "perplexity", "-m", model, "-f", os.path.join(DATA, "ppl-text.txt"),
               "--ctx", str(CTX), "--chunks", str(chunks), *extra, timeout=1800)
    return p


def main():
    model = os.environ.get("MB_MODEL") or os.path.expanduser(
        "~/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(model):
        if os.environ.get("MB_REQUIRE_MODEL") == "1":
            c.check(False, f"the real model is required but missing at {model}")
            c.finish()
        print(f"skipped: the real model is not fetched ({model})")
        sys.exit(77)
    golden = json.load(open(os.path.join(DATA, "perplexity.json")))
    with tempfile.TemporaryDirectory() as tmp:
        files = {"q4_1-original": model, "f16": os.path.join(tmp, "f16.gguf")}
        c.check(SAN or run_mb("gguf", "quantize", "--type", "f16", model,
                              files["f16"]).returncode == 0, "dequantize the model to f16")
        for name in () if SAN else ("q8_0", "q4_0"):
            files[name] = os.path.join(tmp, name + ".gguf")
            c.check(run_mb("gguf", "quantize", "--type", name, files["f16"],
                           files[name]).returncode == 0, f"quantize f16 -> {name}")
        results = {}
        # A sanitizer build runs the forward pass ~20x slower: the numeric agreement over
        # 16 chunks x 4 files is the normal build's job; here only the 2-chunk run and the
        # error cases below exercise the code under ASan/UBSan.
        if SAN:
            files = {}
            print("# sanitizer build: the agreement with llama.cpp is checked in the normal build")
        for name, path in files.items():
            g = golden["models"][name]
            c.check(tensor_digest(path) == g["tensor_sha256"],
                    f"{name}: the same tensors as llama.cpp's file")
            p = ppl(path, "--json")
            if not c.check(p.returncode == 0, f"{name}: eval perplexity --json",
                           p.stderr.decode()[-500:]):
                continue
            d = json.loads(p.stdout)
            results[name] = d["ppl"]
            c.check(d["tokens"] == g["tokens"] and d["scored"] == g["scored"]
                    == CHUNKS * (CTX // 2 - 1) and d["chunks"] == CHUNKS and d["n_ctx"] == CTX
                    and d["bos"] is False,
                    f"{name}: {d['tokens']} tokens, {CHUNKS} chunks of {CTX}, "
                    f"{d['scored']} scored, no BOS")
            c.check(len(d["chunk_ppl"]) == CHUNKS and abs(d["chunk_ppl"][-1] - d["ppl"]) < 1e-9,
                    f"{name}: per-chunk running values end at the estimate")
            rel = abs(d["ppl"] / g["ppl"] - 1)
            c.check(rel <= TOL[name],
                    f"{name}: ppl {d['ppl']:.4f} vs llama.cpp {g['ppl']:.4f} "
                    f"({100 * rel:.3f}% <= {100 * TOL[name]:.1f}%)")
            c.check(abs(d["ppl_err"] / g["ppl_err"] - 1) < 0.05,
                    f"{name}: error estimate {d['ppl_err']:.3f} vs {g['ppl_err']:.3f}")
        if "f16" in results and "q4_0" in results:
            c.check(results["q4_0"] > results["f16"], "q4_0 is worse than f16, as in llama.cpp")

        # the text output: progress on stderr, llama.cpp's final line on stdout
        p = ppl(model, chunks=2)
        out, err = p.stdout.decode(), p.stderr.decode()
        c.check(p.returncode == 0 and out.startswith("Final estimate: PPL = ")
                and " +/- " in out, "text output: 'Final estimate: PPL = X +/- E'", out)
        c.check("[1]" in err and "[2]" in err and "[3]" not in err and "seconds per chunk" in err,
                "per-chunk progress on stderr")

        short = os.path.join(tmp, "short.txt")
        with open(short, "w") as f:
            f.write("A text far too short for two chunks.\n")
        p = run_mb("eval", "perplexity", "-m", model, "-f", short, "--ctx", "128")
        c.check(p.returncode == 3 and b"needs at least 256 (two chunks)" in p.stderr,
                "a short text: exit 3 and how many tokens are needed", p.stderr.decode())
        p = run_mb("eval", "perplexity", "-m", model, "-f", short, "--ctx", "127")
        c.check(p.returncode == 2, "an odd --ctx is a usage error")
        p = run_mb("eval", "perplexity", "-m", model, "-f", os.path.join(tmp, "none.txt"))
        c.check(p.returncode == 4, "a missing text file: exit 4")
        p = run_mb("eval", "perplexity", "-f", short)
        c.check(p.returncode == 2 and b"--model" in p.stderr, "--model is required")
    c.finish()


if __name__ == "__main__":
    main()
