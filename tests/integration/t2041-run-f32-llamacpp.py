#!/usr/bin/env python3
"""t2041-run-f32-llamacpp.py - exactness against llama.cpp, live, without 8-bit rounding.

The real SmolLM2 file is dequantized to an F32 GGUF with gguf-py (every tensor, same keys);
llama.cpp (llama-cpp-python, f32 KV cache) and `modularbase eval logits --kv-type f32` then
evaluate the golden prompts (tests/data/golden/logits.json) on it. With F32 weights neither
runtime quantizes activations, so the only differences are float accumulation order - no
rounding step turns a last-bit difference into a quantization step (see t2040). Bounds:

  - max |ours - llama.cpp| over the full logits of every prompt position < 1e-3
    (measured: about 5e-5; llama.cpp batched vs token-by-token on the same file: 4e-5);
  - top-1 identical at every position;
  - 64 greedy tokens identical (a step whose top-2 margin is below 1e-3 would be a genuine
    tie; the test reports it instead of failing after it).

This checks every part of the forward pass (RoPE, grouped-query attention, SwiGLU, norms,
tied head) against the field's reference. MB_SANITIZE=1 builds run fewer greedy steps.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
    from gguf import GGUFReader, GGUFWriter, GGUFValueType
    from llama_cpp import Llama
except ImportError as e:  # the reference peers are part of the test setup
    print(f"error: a reference package is missing ({e}); run scripts/install-deps.sh")
    sys.exit(1)

BOUND = 1e-3
MB = os.environ.get("MB_BIN")
DATA = os.environ.get("MB_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MODEL = os.environ.get("MB_MODEL") or os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
    "modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
SAN = os.environ.get("MB_SANITIZE") in ("1", "ON", "TRUE", "true")
if not MB:
    print("error: MB_BIN must point at the modularbase binary (run through ctest)")
    sys.exit(1)
if not os.path.exists(MODEL):
    if os.environ.get("MB_REQUIRE_MODEL") == "1":
        print(f"error: the real model is required but missing at {MODEL}")
        sys.exit(1)
    print(f"skipped: model not fetched ({MODEL}); run scripts/fetch-model.sh")
    sys.exit(77)

passed = failed = 0


def check(cond, desc, detail=None):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok - {desc}")
    else:
        failed += 1
        print(f"not ok - {desc}" + (f" ({detail})" if detail else ""))
    return cond


def dequantize_to_f32(src, dst):
    """Every tensor as F32, every key copied (gguf-py reads and writes)."""
    r = GGUFReader(src)
    w = GGUFWriter(dst, r.fields["general.architecture"].contents())
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vt = f.types[0]
        if vt == GGUFValueType.ARRAY:
            w.add_key_value(name, f.contents(), vt, sub_type=f.types[-1])
        else:
            w.add_key_value(name, f.contents(), vt)
    for t in r.tensors:
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w.add_tensor(t.name, data.reshape([int(x) for x in reversed(t.shape)]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


G = json.load(open(os.path.join(DATA, "golden", "logits.json"), encoding="utf-8"))
prompts = G["prompts"] if not SAN else G["prompts"][:3]
n_greedy = 64 if not SAN else 8
tmp = tempfile.mkdtemp(prefix="mbf32.")
atexit.register(shutil.rmtree, tmp, True)
f32 = os.path.join(tmp, "smollm2-f32.gguf")
dequantize_to_f32(MODEL, f32)
check(os.path.getsize(f32) > 500e6, "the F32 copy of the model was written")

llm = Llama(model_path=f32, logits_all=True, n_ctx=512, n_batch=512, n_threads=2, seed=0,
            type_k=0, type_v=0, verbose=False)  # type 0 = GGML_TYPE_F32
worst = 0.0
for p in prompts:
    name, ids = p["name"], p["ids"]
    llm.reset()
    llm.eval(ids)
    ref = np.array(llm.scores[:len(ids)], dtype=np.float32)
    greedy = []
    for step in range(n_greedy):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-row, kind="stable")[:2]
        greedy.append((int(order[0]), float(row[order[0]] - row[order[1]])))
        if step + 1 < n_greedy:
            llm.eval([int(order[0])])

    lpath = os.path.join(tmp, f"{name}.f32")
    r = subprocess.run([MB, "eval", "logits", "-m", f32, "--kv-type", "f32", "--ctx", "512",
                        "--top", "1", "--greedy", str(n_greedy), "-o", lpath,
                        "--ids", ",".join(map(str, ids))], capture_output=True)
    if not check(r.returncode == 0, f"{name}: eval logits runs on the F32 model",
                 r.stderr.decode(errors="replace")[-300:]):
        continue
    ours = json.loads(r.stdout)
    L = np.fromfile(lpath, dtype="<f4").reshape(len(ids), -1)
    d = float(np.abs(L - ref).max())
    worst = max(worst, d)
    check(d < BOUND, f"{name}: max |ours - llama.cpp| over all {len(ids)} x {L.shape[1]} "
          f"logits {d:.2e} < {BOUND}")
    check((L.argmax(axis=1) == ref.argmax(axis=1)).all(),
          f"{name}: top-1 identical at every position")
    mine = [g["id"] for g in ours["greedy"]]
    same = 0
    while same < n_greedy and mine[same] == greedy[same][0]:
        same += 1
    tie = same < n_greedy and greedy[same][1] < BOUND
    check(same == n_greedy or tie, f"{name}: {n_greedy} greedy tokens identical"
          + (f" (a genuine tie at step {same})" if tie else ""), f"{same} identical")

print(f"# worst |ours - llama.cpp| on the F32 model: {worst:.2e}")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
