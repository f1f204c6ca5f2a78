#!/usr/bin/env python3
"""make_pack_gguf.py - write a small GGUF with modularbase.* keys using gguf-py
(the reference GGUF writer), for the pack build tests.

  make_pack_gguf.py OUT --kind data --id demo --version 0.1.0 [--width 64]
                    [--omit modularbase.pack.id] [--tensor-mb N] [--seed S]
"""
import argparse

import numpy as np
import gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--kind", default="data")
    ap.add_argument("--id", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--width", type=int)
    ap.add_argument("--omit", action="append", default=[])
    ap.add_argument("--tensor-mb", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    w = gguf.GGUFWriter(a.out, "llama")
    keys = {
        "modularbase.kind": a.kind,
        "modularbase.pack.id": a.id,
        "modularbase.pack.version": a.version,
    }
    for k, v in keys.items():
        if k not in a.omit:
            w.add_string(k, v)
    if a.width is not None and "modularbase.pack.width" not in a.omit:
        w.add_uint32("modularbase.pack.width", a.width)
    w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "a", "b"])
    n = max(1, int(a.tensor_mb * 1024 * 1024 / 4))
    rng = np.random.default_rng(a.seed)
    w.add_tensor("blk.0.ffn_up.weight", rng.standard_normal(n).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
