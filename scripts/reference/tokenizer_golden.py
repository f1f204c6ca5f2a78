#!/usr/bin/env python3
"""tokenizer_golden.py - record llama.cpp's token ids for the tokenizer corpus.

Uses the installed llama-cpp-python (`Llama(path, vocab_only=True).tokenize(text,
add_bos=..., special=...)`) as the reference and writes, under tests/data/tokenizer/:

  smollm2.json   the real SmolLM2 vocabulary (pre-tokenizer "smollm") on every corpus
                 entry: "plain" ids (add_special=False, parse_special=False) for all
                 entries, and for the three other flag combinations only the entries whose
                 ids differ from "plain".
  pretok.json    the same vocabulary and merges with tokenizer.ggml.pre replaced by other
                 pre-tokenizer names (llama-bpe, qwen2, gpt-2, default, ...), on every 5th
                 corpus entry; only ids that differ from smollm2.json's "plain" are stored.
  spm.json       a small synthetic SentencePiece ("llama") vocabulary built here from
                 corpus text (tokens, scores, types are stored in the file) and
                 llama.cpp's ids for every 10th corpus entry plus lines exercising its
                 user-defined / control tokens and byte fallback ("texts"), with and
                 without BOS / special-token parsing.

The variant files llama.cpp reads are temporary GGUFs written with gguf-py (vocabulary
only, no tensors). CI never runs this script; rerun it after changing the corpus:

    scripts/reference/build_tokenizer_corpus.py     # optional: a new corpus
    scripts/reference/tokenizer_golden.py [--model FILE.gguf]
"""
import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from collections import Counter

import gguf
from llama_cpp import Llama, __version__ as LLAMA_CPP_VERSION

PRE_VARIANTS = [
    "default", "gpt-2", "llama-bpe", "qwen2", "starcoder", "falcon", "deepseek-coder",
    "deepseek-v3", "gpt-4o", "tekken", "dbrx", "chatglm-bpe",
]
PRE_STRIDE = 5  # pretok.json uses every 5th corpus entry
SPM_STRIDE = 10  # spm.json every 10th


# Lines for the synthetic SentencePiece vocabulary: its own special tokens, byte fallback.
SPM_EXTRA = [
    "a<|user_tok|>b",
    "<|user_tok|><|user_tok|> twice",
    "<|ctrl|>control <s> bos</s> eos",
    " <|ctrl|> spaced <|user_tok|> ",
    "\u2581literal lower block",
    "bytes: \u00e9\u00e8 \u65e5\u672c \U0001F600",
    "  two leading spaces",
    "",
    " ",
    "<unk>",
]


def default_model():
    env = os.environ.get("MB_MODEL")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(path):
    return Llama(path, vocab_only=True, verbose=False)


def tok(llm, text, add, special):
    return llm.tokenize(text.encode("utf-8"), add_bos=add, special=special)


FLAGS = {"add": (True, False), "special": (False, True), "add_special": (True, True)}


def record(llm, corpus, indices):
    plain = [tok(llm, corpus[i], False, False) for i in indices]
    variants = {}
    for name, (add, special) in FLAGS.items():
        diff = {}
        for k, i in enumerate(indices):
            ids = tok(llm, corpus[i], add, special)
            if ids != plain[k]:
                diff[str(i)] = ids
        variants[name] = diff
    return plain, variants


def copy_kv(reader, writer, overrides, skip=()):
    """Copy every key of reader into writer except skip; overrides replace values."""
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in skip:
            continue
        if key in overrides:
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub)
    for key, (val, vtype, sub) in overrides.items():
        writer.add_key_value(key, val, vtype, sub)


def write_gguf(path, reader, overrides, skip=()):
    w = gguf.GGUFWriter(path, "llama")
    copy_kv(reader, w, overrides, skip)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def build_spm_vocab(corpus):
    """A small score-ordered SentencePiece vocabulary from corpus text (deterministic)."""
    text = " ".join(s for s in corpus[:600] if s.isascii())
    words = Counter("\u2581" + w for w in text.split())
    chars = Counter(c for c in text.replace(" ", "\u2581"))
    subs = Counter()
    for w, n in words.items():
        for a in range(len(w)):
            for b in range(a + 2, min(len(w), a + 6) + 1):
                subs[w[a:b]] += n
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0, 0.0, 0.0] + [0.0] * 256
    seen = set(tokens)
    # characters first (scores below every merge), then frequent substrings
    for c, n in sorted(chars.items(), key=lambda x: (-x[1], x[0]))[:120]:
        if c not in seen:
            seen.add(c)
            tokens.append(c)
            types.append(1)
            scores.append(-100.0 - len(tokens) * 0.01)
    rank = 0
    for s, n in sorted(subs.items(), key=lambda x: (-x[1] * (len(x[0]) - 1), x[0])):
        if len(tokens) >= 1600:
            break
        if s in seen or n < 3:
            continue
        seen.add(s)
        tokens.append(s)
        types.append(1)
        scores.append(-math.log(1 + rank))
        rank += 1
    # a user-defined token (always split out) and a control token
    for t, ty in (("<|user_tok|>", 4), ("<|ctrl|>", 3)):
        tokens.append(t)
        types.append(ty)
        scores.append(0.0)
    return tokens, scores, types


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--data", default=os.path.join(root, "tests/data/tokenizer"))
    args = ap.parse_args()

    with open(os.path.join(args.data, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    meta = {
        "model": os.path.basename(args.model),
        "model_sha256": sha256_file(args.model),
        "reference": f"llama-cpp-python {LLAMA_CPP_VERSION}",
        "corpus_entries": len(corpus),
    }

    # 1. the real vocabulary on the whole corpus
    llm = load(args.model)
    everything = list(range(len(corpus)))
    plain, variants = record(llm, corpus, everything)
    out = dict(meta, plain=plain, variants=variants)
    with open(os.path.join(args.data, "smollm2.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    n_tok = sum(len(x) for x in plain)
    print(f"smollm2.json: {len(plain)} entries, {n_tok} tokens", file=sys.stderr)
    del llm

    # 2. other pre-tokenizers over the same vocabulary
    reader = gguf.GGUFReader(args.model)
    subset = everything[::PRE_STRIDE]
    pre = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in PRE_VARIANTS:
            path = os.path.join(tmp, f"pre-{name}.gguf")
            write_gguf(path, reader, {"tokenizer.ggml.pre": (name, gguf.GGUFValueType.STRING, None)})
            llm = load(path)
            p, _ = record(llm, corpus, subset)
            pre[name] = {str(i): ids for i, ids in zip(subset, p) if ids != plain[i]}
            del llm
        with open(os.path.join(args.data, "pretok.json"), "w") as f:
            json.dump(dict(meta, subset=subset, pre=pre), f, separators=(",", ":"))
            f.write("\n")
        print(f"pretok.json: {len(pre)} pre-tokenizers x {len(subset)} entries", file=sys.stderr)

        # 3. a synthetic SentencePiece vocabulary
        tokens, scores, types = build_spm_vocab(corpus)
        path = os.path.join(tmp, "spm.gguf")
        skip = [k for k in reader.fields if k.startswith("tokenizer.")]
        T = gguf.GGUFValueType
        write_gguf(path, reader, {
            "tokenizer.ggml.model": ("llama", T.STRING, None),
            "tokenizer.ggml.tokens": (tokens, T.ARRAY, T.STRING),
            "tokenizer.ggml.scores": (scores, T.ARRAY, T.FLOAT32),
            "tokenizer.ggml.token_type": (types, T.ARRAY, T.INT32),
            "tokenizer.ggml.bos_token_id": (1, T.UINT32, None),
            "tokenizer.ggml.eos_token_id": (2, T.UINT32, None),
            "tokenizer.ggml.unknown_token_id": (0, T.UINT32, None),
            "llama.vocab_size": (len(tokens), T.UINT32, None),
        }, skip=skip + ["llama.vocab_size"])
        llm = load(path)
        texts = [corpus[i] for i in everything[::SPM_STRIDE]] + SPM_EXTRA
        p, v = record(llm, texts, list(range(len(texts))))
        del llm
    with open(os.path.join(args.data, "spm.json"), "w") as f:
        json.dump(dict(meta, tokens=tokens, scores=scores, types=types, texts=texts, plain=p,
                       variants=v), f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"spm.json: {len(tokens)} tokens, {len(texts)} texts", file=sys.stderr)


if __name__ == "__main__":
    main()
