#!/usr/bin/env python3
"""t1010-gguf-pyref.py - our GGUF reader agrees with gguf-py on the real model.

On SmolLM2-135M-Instruct (Q4_1): `modularbase gguf inspect --json` reports the
same metadata keys, value types, values and offsets, and the same tensor
names, shapes, types and offsets as gguf-py's GGUFReader; and every tensor,
of every type present, dequantized by `modularbase gguf dump-tensor --raw`
is bit-identical to gguf.quants.dequantize. Also checks the text output and
that `gguf copy` reproduces the file byte for byte.
Skips (77) when the model is not fetched, unless MB_REQUIRE_MODEL=1.
"""
import filecmp
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_ref  # noqa: E402

cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
MODEL = os.environ.get("MB_MODEL") or os.path.join(
    cache, "modularbase", "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
if not os.path.isfile(MODEL):
    if os.environ.get("MB_REQUIRE_MODEL") == "1":
        print(f"the real model is required but missing at {MODEL}")
        sys.exit(1)
    print(f"skipped: model not fetched ({MODEL}); run scripts/fetch-model.sh")
    sys.exit(77)

c = gguf_ref.Checker()
reader = gguf_ref.GGUFReader(MODEL)
ours = gguf_ref.inspect_json(MODEL)
gguf_ref.compare_metadata(c, "model", ours, reader)
gguf_ref.compare_tensors(c, "model", ours, reader)
c.check(ours["architecture"] == "llama", "architecture is llama")
c.check(ours["totals"]["tensors"] == len(reader.tensors) == 272, "272 tensors")
c.check(ours["totals"]["parameters"] == sum(int(t.n_elements) for t in reader.tensors),
        "parameter total")
present = {t.tensor_type for t in reader.tensors}
types = gguf_ref.compare_dequant(c, MODEL, reader, label="model")
c.check(types == present, "every tensor type present was compared",
        f"{sorted(t.name for t in present)} vs {sorted(t.name for t in types)}")

# The text view: summary lines and a summarised vocabulary.
p = gguf_ref.run_mb("gguf", "inspect", MODEL)
out = p.stdout.decode()
c.check(p.returncode == 0, "gguf inspect exits 0")
c.check("GGUF v3" in out and "architecture: \"llama\"" in out, "text shows version and architecture")
c.check("[49152 \u00d7 string] \"<|endoftext|>\", \"<|im_start|>\"" in out,
        "text summarises the vocabulary")
c.check("tensors: 272, 134515008 parameters" in out, "text shows the totals")
c.check(max(len(line) for line in out.splitlines()) < 200, "no line is longer than 200 bytes")
p = gguf_ref.run_mb("gguf", "inspect", "--tensors", MODEL)
lines = p.stdout.decode().splitlines()
c.check(any(line.split()[1:4] == ["token_embd.weight", "q8_0", "576"] for line in lines
            if len(line.split()) > 4), "--tensors lists token_embd.weight")

# Our writer lays the file out exactly as the original.
with tempfile.TemporaryDirectory() as tmp:
    out_path = os.path.join(tmp, "copy.gguf")
    p = gguf_ref.run_mb("gguf", "copy", MODEL, out_path)
    c.check(p.returncode == 0, "gguf copy exits 0", p.stderr.decode().strip())
    c.check(os.path.isfile(out_path) and filecmp.cmp(MODEL, out_path, shallow=False),
            "gguf copy reproduces the model byte for byte")
c.finish()
