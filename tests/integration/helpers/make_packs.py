#!/usr/bin/env python3
"""make_packs.py - write pack directories (pack.yaml + a small GGUF written
with gguf-py) for the registry tests, many in one process.

  make_packs.py OUTDIR SPEC...
  SPEC = ID:VERSION[:KIND[:DEP@RANGE,DEP@RANGE...]]   KIND: data (default), base, router
  e.g.  base:1.0.0:base   med:1.2.0:data:anatomy@^2   big:1.0.0:data --mb 64

Options: --mb N   size of the tensor of every pack, in MiB (default 0.01)
         --seed S
Each pack goes to OUTDIR/ID-VERSION/ (pack.yaml, README.md, weights/ID.gguf).
Data and router packs are compatible with base 1.0.
"""
import os
import sys

import numpy as np
import gguf


def write_pack(out, pid, ver, kind, deps, mb, seed):
    d = os.path.join(out, f"{pid}-{ver}")
    os.makedirs(os.path.join(d, "weights"), exist_ok=True)
    lines = [f"id: {pid}", f'name: "{pid}"', f"version: {ver}", f"kind: {kind}"]
    if kind == "data":
        lines.append('domain: "test"')
    lines += ['description: "a test pack"', "license: MIT", "authors:", '  - "tests"']
    if kind != "base":
        lines += ["base_compatibility:", '  - "1.0"']
    if deps:
        lines.append("dependencies:")
        for dep in deps:
            did, rng = dep.split("@", 1)
            lines += [f"  - id: {did}", f'    version: "{rng}"']
    lines += ["weights:", f"  file: weights/{pid}.gguf", "  quantization: F32"]
    with open(os.path.join(d, "pack.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write(f"# {pid} {ver}\n")
    w = gguf.GGUFWriter(os.path.join(d, "weights", f"{pid}.gguf"), "llama")
    w.add_string("modularbase.kind", kind)
    w.add_string("modularbase.pack.id", pid)
    w.add_string("modularbase.pack.version", ver)
    n = max(1, int(mb * 1024 * 1024 / 4))
    rng = np.random.default_rng(seed)
    w.add_tensor("blk.0.ffn_up.weight", rng.standard_normal(n).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    args = sys.argv[1:]
    mb, seed = 0.01, 1
    rest = []
    i = 0
    while i < len(args):
        if args[i] == "--mb":
            mb = float(args[i + 1])
            i += 2
        elif args[i] == "--seed":
            seed = int(args[i + 1])
            i += 2
        else:
            rest.append(args[i])
            i += 1
    out, specs = rest[0], rest[1:]
    for k, spec in enumerate(specs):
        parts = spec.split(":")
        pid, ver = parts[0], parts[1]
        kind = parts[2] if len(parts) > 2 and parts[2] else "data"
        deps = parts[3].split(",") if len(parts) > 3 and parts[3] else []
        write_pack(out, pid, ver, kind, deps, mb, seed + k)


if __name__ == "__main__":
    main()
