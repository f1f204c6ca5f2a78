#!/usr/bin/env python3
"""t7010-modular-split-exact.py - `pack import` then run: bit-identical to the unsplit file.

For several splits (U understanding blocks, F fusion blocks) of the real SmolLM2 Q4_1 model,
`modularbase pack import` writes base/general/router pack folders; `eval logits --packs DIR`
(base + general with weight 1) must give the same bytes of full logits for every position of
the golden prompts (tests/data/golden/, llama.cpp's reference data) and the same greedy
continuation as `eval logits -m MODEL`. Then the llama.cpp golden bounds of t2040 (same
constants: max |diff| < 2.0 over the top-16 of every position, mean < 0.35, top-1 agreement
>= 90%) are checked on the split model's own output.
Also: the manifests pass `pack build`, and bad splits fail with a clear message.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

MAX_DIFF, MEAN_DIFF, TOP1_RATE = 2.0, 0.35, 0.90  # t2040's bounds
SPLITS = [(4, 2), (1, 1), (2, 5), (14, 14)]

MB = os.environ.get("MB_BIN")
DATA = os.environ.get("MB_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
MODEL = os.environ.get("MB_MODEL") or os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
    "modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
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


def run(*args, **kw):
    return subprocess.run([MB, *args], capture_output=True, **kw)


G = json.load(open(os.path.join(DATA, "golden", "logits.json"), encoding="utf-8"))
V = G["n_vocab"]
tmp = tempfile.mkdtemp(prefix="mb7010.")
atexit.register(shutil.rmtree, tmp, True)
NGREEDY = 16


def eval_logits(src, ids, path):
    r = run("eval", "logits", *src, "--ctx", str(G["n_ctx"]), "--top", "4", "--greedy",
            str(NGREEDY), "-o", path, "--ids", ",".join(map(str, ids)))
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")[-300:]
    return json.loads(r.stdout), None


# The unsplit reference, once.
ref = {}
for p in G["prompts"]:
    path = os.path.join(tmp, f"ref-{p['name']}.f32")
    out, e = eval_logits(["-m", MODEL], p["ids"], path)
    check(out is not None, f"unsplit {p['name']}: eval logits runs", e)
    ref[p["name"]] = (open(path, "rb").read() if out else b"", out)

for (U, F) in SPLITS:
    d = os.path.join(tmp, f"split-{U}-{F}")
    r = run("pack", "import", MODEL, "-U", str(U), "-F", str(F), "-o", d, "--json")
    if not check(r.returncode == 0, f"U={U} F={F}: pack import succeeds",
                 r.stderr.decode(errors="replace")[-300:]):
        continue
    info = json.loads(r.stdout)
    check(info["understanding"] == U and info["fusion"] == F and
          [q["kind"] for q in info["packs"]] == ["base", "data", "router"],
          f"U={U} F={F}: --json reports the split and three packs")
    for p in G["prompts"]:
        path = os.path.join(d, f"{p['name']}.f32")
        out, e = eval_logits(["--packs", d], p["ids"], path)
        if not check(out is not None, f"U={U} F={F} {p['name']}: eval logits --packs runs", e):
            continue
        a, ra = ref[p["name"]]
        b = open(path, "rb").read()
        same = a == b and len(b) == 4 * V * len(p["ids"])
        detail = None
        if not same and len(a) == len(b):
            detail = "max |diff| %g" % float(np.abs(np.frombuffer(a, "<f4") -
                                                    np.frombuffer(b, "<f4")).max())
        check(same, f"U={U} F={F} {p['name']}: all {len(p['ids'])} x {V} logits bit-identical",
              detail)
        check(out["greedy"] == ra["greedy"],
              f"U={U} F={F} {p['name']}: {NGREEDY} greedy tokens and logits identical")

# llama.cpp's golden bounds through the default split (4, 2).
d = os.path.join(tmp, "split-4-2")
n_top1 = n_pos = 0
for p in G["prompts"]:
    path = os.path.join(d, f"{p['name']}.f32")
    if not os.path.exists(path):
        check(False, f"golden {p['name']}: split logits missing")
        continue
    L = np.fromfile(path, dtype="<f4").reshape(len(p["ids"]), V)
    diffs = []
    for i, top in enumerate(p["top"]):
        gid = np.array([t for t, _ in top])
        gval = np.array([v for _, v in top])
        diffs.append(np.abs(L[i, gid] - gval))
        n_pos += 1
        n_top1 += int(L[i].argmax()) == gid[0]
    diffs = np.concatenate(diffs)
    check(diffs.max() < MAX_DIFF and diffs.mean() < MEAN_DIFF,
          f"golden {p['name']}: split model vs llama.cpp max |diff| {diffs.max():.3f} < "
          f"{MAX_DIFF}, mean {diffs.mean():.3f} < {MEAN_DIFF}")
rate = n_top1 / max(n_pos, 1)
check(rate >= TOP1_RATE, f"golden: split model top-1 agreement with llama.cpp {rate:.1%} >= "
      f"{TOP1_RATE:.0%}")

# The manifests are valid for pack build (keys match pack.yaml).
for name in ("base", "general", "router"):
    r = run("pack", "build", os.path.join(d, name), "-o", tmp)
    check(r.returncode == 0, f"pack build accepts the imported {name} pack",
          r.stderr.decode(errors="replace")[-300:])

# Bad input: clear one-line errors, nothing written.
for args, want in ((["-U", "20", "-F", "10"], "cannot split 30 blocks"),
                   (["-U", "0"], "at least 1"),
                   (["--base-id", "Bad_Id"], "not a valid pack id")):
    out = os.path.join(tmp, "bad")
    r = run("pack", "import", MODEL, *args, "-o", out)
    err = r.stderr.decode(errors="replace")
    check(r.returncode != 0 and want in err and not os.path.exists(os.path.join(out, "base")),
          f"pack import {' '.join(args)} fails with '{want}'", err[-200:])
r = run("pack", "import", MODEL, "-o", d)
check(r.returncode != 0 and "already exists" in r.stderr.decode(),
      "pack import refuses to overwrite without --force")
r = run("pack", "import", os.path.join(DATA, "golden", "logits.json"), "-o", os.path.join(tmp, "x"))
check(r.returncode != 0 and r.stderr.decode().startswith("error:"),
      "pack import of a file that is not GGUF fails cleanly")

print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
