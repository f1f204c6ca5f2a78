#!/usr/bin/env python3
"""gen_model_seeds.py - tiny llama-family GGUF models (gguf-py) as seeds for fuzz_model.c.

Three models of one or two blocks, width 32, two query heads sharing one KV head, a
vocabulary of 16: F32 weights with an output matrix, Q8_0 block matrices with a tied head,
and F16 weights with linear RoPE scaling. Each is a few KB. Rewrite with:

    tests/fuzz/gen_model_seeds.py
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_model")


def write(name, blocks, wtype, tied, extra_keys=()):
    rng = np.random.default_rng(len(name))
    d, heads, kv, ff, vocab = 32, 2, 1, 64, 16
    hd = d // heads
    w = gguf.GGUFWriter(os.path.join(OUT, name), "llama")
    w.add_block_count(blocks)
    w.add_context_length(64)
    w.add_embedding_length(d)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    for key, value in extra_keys:
        w.add_key_value(key, *value)

    def mat(tname, rows, cols, typ=wtype):
        x = (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
        if typ == T.F32:
            w.add_tensor(tname, x)
        elif typ == T.F16:
            w.add_tensor(tname, x.astype(np.float16))
        else:
            q = gguf.quants.quantize(x, typ)
            w.add_tensor(tname, q, raw_shape=q.shape, raw_dtype=typ)

    def vec(tname, n):
        w.add_tensor(tname, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    mat("token_embd.weight", vocab, d, T.F32)
    for b in range(blocks):
        vec(f"blk.{b}.attn_norm.weight", d)
        mat(f"blk.{b}.attn_q.weight", heads * hd, d)
        mat(f"blk.{b}.attn_k.weight", kv * hd, d)
        mat(f"blk.{b}.attn_v.weight", kv * hd, d)
        mat(f"blk.{b}.attn_output.weight", d, heads * hd)
        vec(f"blk.{b}.ffn_norm.weight", d)
        mat(f"blk.{b}.ffn_gate.weight", ff, d)
        mat(f"blk.{b}.ffn_up.weight", ff, d)
        mat(f"blk.{b}.ffn_down.weight", d, ff)
    vec("output_norm.weight", d)
    if not tied:
        mat("output.weight", vocab, d, T.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    write("f32-untied", 1, T.F32, False)
    write("q8_0-tied", 2, T.Q8_0, True)
    write("f16-linear-rope", 1, T.F16, False,
          [("llama.rope.scaling.type", ("linear", gguf.GGUFValueType.STRING)),
           ("llama.rope.scaling.factor", (2.0, gguf.GGUFValueType.FLOAT32))])


if __name__ == "__main__":
    main()
