#!/usr/bin/env python3
"""make_store_pack.py - build a real .mbpack for the store tests: writes a pack
directory (pack.yaml, README.md, a GGUF with modularbase.* keys written by
gguf-py) and runs `modularbase pack build` on it.

  make_store_pack.py BINARY OUTDIR ID VERSION [--kind data|base|router]
        [--dep ID@RANGE]... [--compat RANGE]... [--base ID] [--mb SIZE_MB]
        [--seed N] [--weights-name NAME] [--resident true|false] [--key NAME]

Prints the path of the archive.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("outdir")
    ap.add_argument("id")
    ap.add_argument("version")
    ap.add_argument("--kind", default="data")
    ap.add_argument("--dep", action="append", default=[])
    ap.add_argument("--compat", action="append", default=[])
    ap.add_argument("--base")
    ap.add_argument("--mb", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weights-name")
    ap.add_argument("--resident", choices=["true", "false"])
    ap.add_argument("--key", help="sign with this key (pack build --key)")
    a = ap.parse_args()

    src = os.path.join(a.outdir, "src", f"{a.id}-{a.version}")
    os.makedirs(os.path.join(src, "weights"), exist_ok=True)
    wname = a.weights_name or f"{a.id}.gguf"
    lines = [
        f"id: {a.id}",
        f'name: "{a.id} test pack"',
        f"version: {a.version}",
        f"kind: {a.kind}",
    ]
    if a.kind == "data":
        lines.append("domain: testing")
    lines.append("license: MIT")
    if a.base:
        lines.append(f"base: {a.base}")
    if a.compat:
        lines.append("base_compatibility:")
        lines += [f'  - "{c}"' for c in a.compat]
    if a.dep:
        lines.append("dependencies:")
        for d in a.dep:
            did, _, rng = d.partition("@")
            lines.append(f"  - id: {did}")
            if rng:
                lines.append(f'    version: "{rng}"')
    if a.resident:
        lines.append(f"resident: {a.resident}")
    lines += ["weights:", f"  file: weights/{wname}"]
    with open(os.path.join(src, "pack.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(src, "README.md"), "w") as f:
        f.write(f"# {a.id} {a.version}\n\nA pack for the store tests.\n")
    subprocess.run(
        [sys.executable, os.path.join(HERE, "make_pack_gguf.py"),
         os.path.join(src, "weights", wname), "--kind", a.kind, "--id", a.id,
         "--version", a.version, "--tensor-mb", str(a.mb), "--seed", str(a.seed)],
        check=True)
    sign = ["--key", a.key] if a.key else []
    subprocess.run([a.binary, "pack", "build", src, "-o", a.outdir] + sign, check=True,
                   stdout=subprocess.DEVNULL)
    print(os.path.join(a.outdir, f"{a.id}-{a.version}.mbpack"))


if __name__ == "__main__":
    main()
