#!/usr/bin/env python3
"""t9010-cuda-greedy.py - the CUDA backend against the CPU backend through the
binary: greedy tokens of 5 prompts x 64 steps must be identical (`eval logits
--greedy`, which also prints each step's margin between the two best logits),
on a synthetic SmolLM2-shaped Q4_1 model (random weights, the real tokenizer,
written by `gguf synth`) and on the real model; `run --temp 0` and a seeded
`run --temp 0.8` (the device top-k path and decode graphs) print the same text
on both; a long prompt (cuBLAS prefill) is compared too, and a difference there
is accepted only at a near-tie (CPU margin < 0.02), since that path rounds
activations to f16 instead of int8 (with cuBLAS off, MB_CUDA_GEMM_ROWS, the
same long prompt must match exactly). Bad --device values are usage errors.

Needs a CUDA device (exit 77, "skipped: no CUDA device", otherwise) and the
real model (for its tokenizer). MB_CUDA_SYNTH_ONLY=1 skips the real model.
"""
import json
import os
import subprocess
import sys
import tempfile

MB = os.environ.get("MB_BIN")
if not MB:
    print("MB_BIN must point at the modularbase binary (run through ctest)")
    sys.exit(2)
MODEL = os.environ.get("MB_MODEL") or os.path.expanduser(
    "~/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
TOKENIZER = os.environ.get("MB_TOKENIZER", MODEL)

passed = failed = 0


def check(ok, desc, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {desc}")
    else:
        failed += 1
        print(f"not ok - {desc}" + (f"\n    {detail}" if detail else ""))


def mb(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([MB, *args], capture_output=True, env=e)


if not os.path.exists(TOKENIZER):
    if os.environ.get("MB_REQUIRE_MODEL") == "1":
        print(f"the real model is required but missing at {TOKENIZER}")
        sys.exit(1)
    print(f"skipped: model not fetched ({TOKENIZER})")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="mb9010.")
synth = os.path.join(tmp, "synth-smollm2-q4_1.gguf")
p = mb("gguf", "synth", "--shape", "smollm2", "--type", "q4_1", "--tokenizer", TOKENIZER, synth)
if p.returncode != 0:
    print("gguf synth failed:", p.stderr.decode(errors="replace")[-400:])
    sys.exit(1)

p = mb("eval", "logits", "-m", synth, "--device", "cuda", "--ids", "1", "--top", "1")
err = p.stderr.decode(errors="replace")
if p.returncode != 0 and ("no CUDA" in err or "CUDA backend" in err):
    print(f"skipped: no CUDA device ({err.strip()[:200]})")
    sys.exit(77)
check(p.returncode == 0, "eval logits runs on the CUDA device", err[-300:])

p = mb("run", "-m", synth, "--device", "gpu", "-p", "hi")
check(p.returncode == 2 and b"--device must be cpu, cuda or auto" in p.stderr,
      "--device gpu is a usage error", p.stderr.decode(errors="replace")[-200:])

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):",
    "Explain in one sentence why the sky is blue.",
    "1, 2, 3, 4, 5,",
]


def greedy(model, prompt, device, steps=64, env=None):
    p = mb("eval", "logits", "-m", model, "--device", device, "--greedy", str(steps), "--top", "1",
           prompt, env=env)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace")[-300:]
    return json.loads(p.stdout), ""


def compare(model, name, prompt, tie=None, env=None):
    a, ea = greedy(model, prompt, "cpu")
    b, eb = greedy(model, prompt, "cuda", env=env)
    if a is None or b is None:
        check(False, f"{name}: eval logits on both devices", ea or eb)
        return
    ia = [g["id"] for g in a["greedy"]]
    ib = [g["id"] for g in b["greedy"]]
    first = next((i for i in range(len(ia)) if ia[i] != ib[i]), None)
    la = [g["logit"] for g in a["greedy"]]
    lb = [g["logit"] for g in b["greedy"]]
    same_prefix = len(ia) if first is None else first
    worst = max(abs(x - y) for x, y in zip(la[:same_prefix], lb[:same_prefix])) if same_prefix else 0
    desc = (f"{name}: {len(a['tokens'])} prompt tokens, {same_prefix}/{len(ia)} greedy tokens "
            f"identical, top logits within {worst:.2g}")
    if first is None:
        check(True, desc)
    elif tie is not None and a["greedy"][first]["margin"] < tie:
        check(True, desc + f" (diverged at a near-tie: CPU margin "
                           f"{a['greedy'][first]['margin']:.3g})")
    else:
        check(False, desc, f"step {first}: cpu {ia[first]} (margin {a['greedy'][first]['margin']:.3g})"
                           f" vs cuda {ib[first]} (margin {b['greedy'][first]['margin']:.3g})")


models = [("synthetic", synth)]
if os.environ.get("MB_CUDA_SYNTH_ONLY") != "1" and os.path.exists(MODEL):
    models.append(("real", MODEL))
for mname, path in models:
    for i, prompt in enumerate(PROMPTS):
        compare(path, f"{mname} prompt {i + 1}", prompt)
    # run: the device's greedy top-1 path with decode graphs, then top-k sampling
    for args, what in ((["--temp", "0"], "greedy"), (["--temp", "0.8", "--seed", "3"], "top-k 40")):
        outs = []
        for dev in ("cpu", "cuda"):
            p = mb("run", "-m", path, "--device", dev, "-p", PROMPTS[1], "-n", "64", *args)
            outs.append((p.returncode, p.stdout))
        check(outs[0][0] == 0 and outs[0] == outs[1], f"{mname}: run {what}: the same text on both",
              f"cpu {outs[0][1][:120]!r}\n    cuda {outs[1][1][:120]!r}")
    long_prompt = " ".join(PROMPTS * 12)
    compare(path, f"{mname} long prompt (cuBLAS prefill)", long_prompt, tie=0.02)
    # the same prompt with cuBLAS turned off: int8 prefill, so identical tokens again
    compare(path, f"{mname} long prompt (int8 prefill)", long_prompt,
            env={"MB_CUDA_GEMM_ROWS": "1000000"})

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
