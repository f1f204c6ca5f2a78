#!/usr/bin/env python3
"""gguf_blob.py - write a GGUF v3 file with the modularbase.* keys `pack build`
checks and one F32 tensor of random bits (incompressible, like quantized
weights), without gguf-py: for benchmarks on machines that lack it.

  gguf_blob.py OUT --kind data --id ID --version V --tensor-mb N
"""
import argparse
import os
import struct


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--kind", default="data")
    ap.add_argument("--id", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--tensor-mb", type=float, default=1)
    a = ap.parse_args()
    n = max(1, int(a.tensor_mb * 1024 * 1024 / 4))
    kv = [("general.architecture", "llama"), ("modularbase.kind", a.kind),
          ("modularbase.pack.id", a.id), ("modularbase.pack.version", a.version)]
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv))
    for k, v in kv:
        head += gguf_string(k) + struct.pack("<I", 8) + gguf_string(v)  # 8 = string
    # one tensor: name, 1 dimension, type F32 (0), offset 0 in the data section
    head += gguf_string("blk.0.ffn_up.weight") + struct.pack("<IQIQ", 1, n, 0, 0)
    pad = (-len(head)) % 32
    with open(a.out, "wb") as f:
        f.write(head + b"\0" * pad)
        left = n * 4
        while left:
            k = min(left, 16 << 20)
            f.write(os.urandom(k))
            left -= k


if __name__ == "__main__":
    main()
