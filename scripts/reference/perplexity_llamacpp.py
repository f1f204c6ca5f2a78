#!/usr/bin/env python3
"""perplexity_llamacpp.py - llama.cpp's perplexity of a text, computed with the
installed llama-cpp-python exactly as tools/perplexity/perplexity.cpp does it
(`llama-perplexity -m MODEL -f TEXT -c CTX`), for comparison with
`modularbase eval perplexity`:

  - tokenize the whole text with add_special (BOS only if the vocabulary adds it);
  - floor(n_tokens / ctx) chunks of ctx tokens, each evaluated from an empty KV
    cache in one batch of ctx tokens, its first token replaced by BOS when the
    vocabulary adds BOS;
  - score the logits at positions ctx/2 .. ctx-2 against the next token:
    nll = -(logit[tok] - max) + log(sum(expf(logit - max))), the sum in double;
  - PPL = exp(mean nll), error = PPL * sqrt((mean nll^2 - mean^2) / (count - 1)).

    perplexity_llamacpp.py --model FILE.gguf --text FILE [--ctx 512] [--chunks N]
                           [--threads N] [--json]

Prints the running estimate per chunk ([1]12.3456,...) on stderr and
"Final estimate: PPL = X +/- E" (or a JSON object with --json) on stdout.
"""
import argparse
import json
import math
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama


def nll_rows(logits, targets):
    """-log softmax per row, with llama.cpp's float32/double arithmetic."""
    logits = np.asarray(logits, dtype=np.float32)
    mx = logits.max(axis=1, keepdims=True)
    diff = logits - mx  # float32, as `logits[i] - max_logit`
    sum_exp = np.exp(diff).astype(np.float64).sum(axis=1)
    tok = diff[np.arange(len(targets)), targets].astype(np.float64)
    return -(tok - np.log(sum_exp))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", "-m", required=True)
    ap.add_argument("--text", "-f", required=True)
    ap.add_argument("--ctx", "-c", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=0)
    ap.add_argument("--threads", "-t", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    kw = dict(n_ctx=a.ctx, n_batch=a.ctx, n_ubatch=a.ctx, logits_all=True, verbose=False,
              n_gpu_layers=0)
    if a.threads:
        kw.update(n_threads=a.threads, n_threads_batch=a.threads)
    llm = Llama(model_path=a.model, **kw)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    bos = llama_cpp.llama_vocab_bos(vocab)
    with open(a.text, "rb") as f:
        text = f.read()
    tokens = llm.tokenize(text, add_bos=True, special=False)
    n_ctx = a.ctx
    if len(tokens) < 2 * n_ctx:
        sys.exit(f"the text has {len(tokens)} tokens; ctx {n_ctx} needs {2 * n_ctx}")
    n_chunk = len(tokens) // n_ctx
    if a.chunks:
        n_chunk = min(n_chunk, a.chunks)
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    chunk_ppl = []
    t_all = time.time()
    for i in range(n_chunk):
        chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = llm.scores[first:n_ctx - 1, :]
        v = nll_rows(logits, np.asarray(tokens[i * n_ctx + first + 1:(i + 1) * n_ctx]))
        nll += float(v.sum())
        nll2 += float((v * v).sum())
        count += len(v)
        chunk_ppl.append(math.exp(nll / count))
        print(f"[{i + 1}]{chunk_ppl[-1]:.4f},", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    seconds = time.time() - t_all
    mean = nll / count
    mean2 = nll2 / count
    ppl = math.exp(mean)
    var = mean2 - mean * mean
    err = math.sqrt(var / (count - 1)) * ppl if var > 0 else 0.0
    if a.json:
        json.dump({"model": a.model, "text": a.text, "tokens": len(tokens), "n_ctx": n_ctx,
                   "chunks": n_chunk, "scored": count, "bos": add_bos, "ppl": ppl,
                   "ppl_err": err, "nll": mean, "seconds": seconds,
                   "llama_cpp_python": llama_cpp.__version__, "chunk_ppl": chunk_ppl},
                  sys.stdout, indent=2)
        print()
    else:
        print(f"Final estimate: PPL = {ppl:.4f} +/- {err:.5f}")


if __name__ == "__main__":
    main()
