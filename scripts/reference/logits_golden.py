#!/usr/bin/env python3
"""logits_golden.py - llama.cpp's logits on the real SmolLM2 file, for the runtime's golden tests.

For each prompt in PROMPTS (chat-formatted with the model's own template through
llama-cpp-python's Jinja2 formatter, code, prose, Cyrillic and CJK text, digits), the
installed llama-cpp-python (0.3.36, llama.cpp built with native CPU flags) evaluates the
prompt in one batch, as llama.cpp does by default (n_batch 512, f16 KV cache, no flash
attention), and records:

  - the token ids (llama.cpp's tokenizer, special tokens parsed);
  - the full logits of the first N_FULL positions (binary, tests/data/golden/logits_full.f32:
    little-endian float32, prompt after prompt, N_FULL x n_vocab each);
  - the TOP_K best logits (id, logit) of every prompt position;
  - GREEDY greedy tokens after the prompt (each evaluated one at a time, end-of-generation
    tokens not special-cased), with the top-1 logit and its margin over the second.

It also measures how far llama.cpp is from ITSELF on the same file and prompt - the
numerical noise floor of Q4_1 inference, where activations are rounded to 8 bits before
every matmul, so a last-bit difference in a sum can flip a rounding and grow through the
30 blocks: the same prompt evaluated one token at a time (the decode path), and with
flash attention. For each variant: the largest |logit difference| from the reference
over every position's TOP_K ids, and how many greedy tokens agree with the reference.
tests/integration/t2040-run-golden.py bounds our differences with these figures
(docs/runtime.md, "What is exact").

Regenerate (about a minute on 2 cores; the output is deterministic):

    scripts/fetch-model.sh
    scripts/reference/logits_golden.py [MODEL.gguf]
"""
import hashlib
import json
import os
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

N_FULL = 3
TOP_K = 16
GREEDY = 64
N_CTX = 512

PROMPTS = [
    {"name": "chat-capital", "chat": [
        {"role": "user", "content": "What is the capital of France?"}]},
    {"name": "chat-multiturn", "chat": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name three primary colors."},
        {"role": "assistant", "content": "Red, blue and yellow."},
        {"role": "user", "content": "Which of them is the warmest?"}]},
    {"name": "code-python", "text":
        "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n"},
    {"name": "prose", "text":
        "The printing press, invented by Johannes Gutenberg around 1440, changed Europe "
        "because"},
    {"name": "cyrillic", "text": "Париж — столица Франции. Берлин — столица"},
    {"name": "cjk", "text": "北京是中国的首都。东京是"},
    {"name": "digits", "text": "1, 1, 2, 3, 5, 8, 13, 21,"},
]


def new_llama(model, flash_attn=False):
    return Llama(model_path=model, logits_all=True, n_ctx=N_CTX, n_batch=512, n_threads=2,
                 seed=0, flash_attn=flash_attn, verbose=False)


def prompt_ids(llm, p):
    if "chat" in p:
        meta = llm.metadata
        bos = llm.detokenize([llm.token_bos()], special=True).decode()
        eos = llm.detokenize([llm.token_eos()], special=True).decode()
        fmt = Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token=eos, bos_token=bos)
        text = fmt(messages=p["chat"]).prompt
    else:
        text = p["text"]
    # add_bos=True is llama.cpp's add_special: BOS only when the vocabulary asks for it.
    ids = llm.tokenize(text.encode(), add_bos=True, special=True)
    return text, ids


def run(llm, ids, sequential):
    """Logits of every prompt position, then GREEDY greedy steps (id, logit, margin)."""
    llm.reset()
    if sequential:
        for t in ids:
            llm.eval([t])
    else:
        llm.eval(ids)
    scores = np.array(llm.scores[:len(ids)], dtype=np.float32)
    greedy = []
    for step in range(GREEDY):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-row, kind="stable")[:2]
        tok = int(order[0])
        greedy.append({"id": tok, "logit": float(row[order[0]]),
                       "margin": float(row[order[0]] - row[order[1]])})
        if step + 1 < GREEDY:
            llm.eval([tok])
    return scores, greedy


def top_k(row):
    order = np.argsort(-row, kind="stable")[:TOP_K]
    return [[int(i), float(row[i])] for i in order]


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
        "modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = os.path.join(here, "..", "..", "tests", "data", "golden")
    os.makedirs(out_dir, exist_ok=True)
    sha = hashlib.sha256(open(model, "rb").read()).hexdigest()

    ref = new_llama(model)
    fa = new_llama(model, flash_attn=True)
    n_vocab = ref.n_vocab()
    full = []
    prompts = []
    for p in PROMPTS:
        text, ids = prompt_ids(ref, p)
        assert len(ids) >= N_FULL and len(ids) + GREEDY <= N_CTX
        scores, greedy = run(ref, ids, sequential=False)
        full.append(scores[:N_FULL])
        variants = {}
        for name, llm, seq in (("sequential", ref, True), ("flash_attn", fa, False)):
            s2, g2 = run(llm, ids, sequential=seq)
            # Differences over every position's reference top-k ids, as the test measures ours.
            diffs = np.concatenate([np.abs(s2[i, [t for t, _ in top_k(scores[i])]] -
                                           scores[i, [t for t, _ in top_k(scores[i])]])
                                    for i in range(len(ids))])
            same = 0
            while same < GREEDY and g2[same]["id"] == greedy[same]["id"]:
                same += 1
            variants[name] = {
                "max_abs_diff_topk": float(diffs.max()),
                "mean_abs_diff_topk": float(diffs.mean()),
                "max_abs_diff_full": float(np.abs(s2[:N_FULL] - scores[:N_FULL]).max()),
                "top1_agree": int((s2.argmax(axis=1) == scores.argmax(axis=1)).sum()),
                "greedy_agree": same,
            }
        prompts.append({
            "name": p["name"], "text": text, "chat": p.get("chat"), "ids": ids,
            "top": [top_k(scores[i]) for i in range(len(ids))],
            "greedy": greedy, "llama_cpp_variants": variants,
        })
        print(f"{p['name']}: {len(ids)} tokens, variants {variants}", file=sys.stderr)

    np.concatenate(full).astype("<f4").tofile(os.path.join(out_dir, "logits_full.f32"))
    meta = {
        "generator": "scripts/reference/logits_golden.py",
        "reference": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp, CPU, n_threads 2, "
                     f"n_batch 512, f16 KV cache, flash attention off)",
        "model": os.path.basename(model), "model_sha256": sha, "n_vocab": n_vocab,
        "n_ctx": N_CTX, "n_full": N_FULL, "top_k": TOP_K, "n_greedy": GREEDY,
        "full_logits_file": "logits_full.f32", "prompts": prompts,
    }
    with open(os.path.join(out_dir, "logits.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
