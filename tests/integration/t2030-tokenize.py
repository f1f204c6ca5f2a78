#!/usr/bin/env python3
"""t2030-tokenize.py - `modularbase tokenize` on the real SmolLM2 model.

  * every single-line corpus entry through one `--per-line --json` run gives llama.cpp's
    ids (tests/data/tokenizer/smollm2.json), with and without special-token parsing;
    multi-line entries through standard input;
  * the output formats (default 'ID -> 'piece'', --ids, --pieces, --count, --json) agree;
  * live against llama-cpp-python when it is installed: invalid UTF-8 and odd inputs;
  * bad input: no --model, missing or non-GGUF files, a GGUF without a vocabulary, broken
    vocabulary keys, an unknown pre-tokenizer, conflicting options - each one clear line on
    stderr and the documented exit status, never a crash;
  * in builds with allocation fault injection (MB_DEBUG_ALLOC), failing the Nth
    allocation gives a clean "out of memory" error for every N tried.
Skips (77) when the model is not fetched, unless MB_REQUIRE_MODEL=1.
"""
import json
import os
import subprocess
import sys
import tempfile

MB = os.environ["MB_BIN"]
DATA = os.environ.get("MB_TEST_DATA") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data")
cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
MODEL = os.environ.get("MB_MODEL") or os.path.join(
    cache, "modularbase", "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
if not os.path.isfile(MODEL):
    if os.environ.get("MB_REQUIRE_MODEL") == "1":
        print(f"the real model is required but missing at {MODEL}")
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


def mb(*args, stdin=None, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([MB, *args], input=stdin, capture_output=True, timeout=300, env=e)


def check_error(p, status, pattern, desc):
    err = p.stderr.decode(errors="replace")
    lines = [line for line in err.splitlines() if line.strip()]
    ok = (p.returncode == status and lines and lines[0].startswith("error: ") and pattern in err
          and "Sanitizer" not in err)
    check(ok, desc, f"exit {p.returncode}, stderr {err[:300]!r}")


with open(os.path.join(DATA, "tokenizer/corpus.json"), encoding="utf-8") as f:
    corpus = json.load(f)
with open(os.path.join(DATA, "tokenizer/smollm2.json"), encoding="utf-8") as f:
    golden = json.load(f)
plain = golden["plain"]
special = golden["variants"]["add_special"]


def expect(i, parse_special):
    return special.get(str(i), plain[i]) if parse_special else plain[i]


with tempfile.TemporaryDirectory() as tmp:
    # --- the corpus, one run per flag set ---------------------------------------------
    single = [i for i, s in enumerate(corpus) if "\n" not in s and "\r" not in s]
    lines_path = os.path.join(tmp, "lines.txt")
    with open(lines_path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(corpus[i] for i in single))
    for flags, parse in (([], True), (["--no-bos", "--no-parse-special"], False)):
        p = mb("tokenize", "-m", MODEL, "--per-line", "--json", *flags, "--file", lines_path)
        check(p.returncode == 0, f"--per-line --json {' '.join(flags)} exits 0", p.stderr[:200])
        out = [json.loads(line) for line in p.stdout.decode().splitlines()]
        check(len(out) == len(single), f"one JSON line per input line ({len(single)})",
              f"{len(out)} lines")
        bad = [i for i, o in zip(single, out) if o["ids"] != expect(i, parse)]
        check(not bad, f"{len(single)} corpus lines give llama.cpp's ids {' '.join(flags)}",
              f"first differences at entries {bad[:5]}")
        check(all(o["n_tokens"] == len(o["ids"]) == len(o["pieces"]) for o in out),
              "n_tokens, ids and pieces agree")
    multi = [i for i, s in enumerate(corpus) if "\n" in s or "\r" in s]
    bad = []
    for i in multi[:60]:
        p = mb("tokenize", "-m", MODEL, "--ids", "-", stdin=corpus[i].encode())
        if p.returncode != 0 or json.loads(p.stdout) != expect(i, True):
            bad.append(i)
    check(not bad, f"{min(60, len(multi))} multi-line entries through stdin", f"entries {bad[:5]}")

    # --- output formats ------------------------------------------------------------------
    text = "Hello world, 123 <|im_start|>\ttab"
    p = mb("tokenize", "-m", MODEL, "--json", text)
    ref = json.loads(p.stdout)
    p = mb("tokenize", "-m", MODEL, text)
    lines = p.stdout.decode().splitlines()
    check(len(lines) == ref["n_tokens"] and lines[0].split(" -> ")[0].strip() == str(ref["ids"][0]),
          "default output: one 'ID -> piece' line per token", lines[:3])
    check(lines[-1].endswith("-> 'tab'") and "\\t" in p.stdout.decode(),
          "pieces are quoted, control characters escaped")
    p = mb("tokenize", "-m", MODEL, "--ids", text)
    check(json.loads(p.stdout) == ref["ids"], "--ids prints the ids as a list")
    p = mb("tokenize", "-m", MODEL, "--count", text)
    check(p.stdout.decode().strip() == str(ref["n_tokens"]), "--count prints the count")
    p = mb("tokenize", "-m", MODEL, "--pieces", text)
    check(p.stdout.decode().splitlines()[-1] == "tab" and "<|im_start|>" in p.stdout.decode(),
          "--pieces prints the pieces, special tokens rendered")
    p = mb("tokenize", "-m", MODEL, "--ids", "")
    check(p.returncode == 0 and json.loads(p.stdout) == [], "empty text: no tokens")
    p = mb("tokenize", "-m", MODEL, "--ids", "--pre", "default", "it's")
    q = mb("tokenize", "-m", MODEL, "--ids", "it's")
    check(p.returncode == 0 and json.loads(p.stdout) == [269, 23, 99] and
          json.loads(q.stdout) == [269, 506],
          "--pre replaces the pre-tokenizer ('default' splits punctuation first)")
    p = mb("tokenize", "-m", MODEL, "--count", "--stats", "x")
    check(p.returncode == 0 and b"stats: load_ms=" in p.stderr, "--stats reports timings")

    # --- live against llama.cpp, when installed -----------------------------------------
    try:
        from llama_cpp import Llama
        llm = Llama(MODEL, vocab_only=True, verbose=False)
    except Exception as e:  # not installed here: the goldens above still ran
        print(f"# llama-cpp-python unavailable ({type(e).__name__}); live checks skipped")
        llm = None
    if llm:
        odd = [b"\xff", b"a\xc3", b"\xc0\x80 overlong", b"\xed\xa0\x80 surrogate",
               b"\xe6\x97\xa5\xff\xe6\x9c\xac", b"\x00nul\x00", b"<|im_end|><|im_end|>",
               b"\xf0\x9f\x98", "\u00e9\u0301\u200d\ufeff".encode(), b" " * 50 + b"x",
               "٣٤٥ ４５ ²".encode()]
        bad = []
        for raw in odd:
            p = mb("tokenize", "-m", MODEL, "--ids", "-", stdin=raw)
            ref_ids = llm.tokenize(raw, add_bos=True, special=True)
            if p.returncode != 0 or json.loads(p.stdout) != ref_ids:
                bad.append(raw)
        check(not bad, f"{len(odd)} odd inputs (invalid UTF-8, NUL, ...) match llama.cpp live",
              bad[:3])

    # --- bad input -----------------------------------------------------------------------
    check_error(mb("tokenize", "hello"), 2, "--model", "no --model: usage error")
    check_error(mb("tokenize", "-m", MODEL), 2, "no text given", "no text: usage error")
    check_error(mb("tokenize", "-m", MODEL, "a", "b"), 2, "exactly one", "two texts")
    check_error(mb("tokenize", "-m", MODEL, "--ids", "--count", "a"), 2, "exclude",
                "--ids with --count")
    check_error(mb("tokenize", "-m", os.path.join(tmp, "nope.gguf"), "a"), 4, "nope.gguf",
                "a missing model file: exit 4")
    with open(os.path.join(tmp, "text.gguf"), "w") as f:
        f.write("this is not a GGUF file at all, just text\n")
    check_error(mb("tokenize", "-m", os.path.join(tmp, "text.gguf"), "a"), 3, "text.gguf",
                "a file that is not GGUF: exit 3")
    check_error(mb("tokenize", "-m", MODEL, "--pre", "no-such", "a"), 10,
                "unknown pre-tokenizer 'no-such'", "an unknown pre-tokenizer: exit 10")
    check_error(mb("tokenize", "-m", MODEL, "--file", os.path.join(tmp, "missing.txt")), 4,
                "missing.txt", "a missing --file")

    try:
        import gguf
        import numpy as np
    except ImportError:
        gguf = None
    if gguf:
        reader = gguf.GGUFReader(MODEL)

        def write_variant(name, drop=(), override=None):
            """A vocabulary-only copy of the model with keys dropped or replaced."""
            path = os.path.join(tmp, name)
            w = gguf.GGUFWriter(path, "llama")
            for key, field in reader.fields.items():
                if key.startswith("GGUF.") or key == "general.architecture" or key in drop:
                    continue
                if override and key in override:
                    continue
                vtype = field.types[0]
                sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
                w.add_key_value(key, field.contents(), vtype, sub)
            for key, (val, vtype, sub) in (override or {}).items():
                w.add_key_value(key, val, vtype, sub)
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
            return path

        T = gguf.GGUFValueType
        toks = reader.fields["tokenizer.ggml.tokens"].contents()
        path = write_variant("novocab.gguf", drop=[k for k in reader.fields
                                                   if k.startswith("tokenizer.")])
        check_error(mb("tokenize", "-m", path, "a"), 4, "no vocabulary",
                    "a GGUF without a vocabulary: exit 4")
        path = write_variant("nomerges.gguf", drop=["tokenizer.ggml.merges"])
        check_error(mb("tokenize", "-m", path, "a"), 3, "tokenizer.ggml.merges",
                    "a gpt2 vocabulary without merges: exit 3")
        path = write_variant("dup.gguf", override={
            "tokenizer.ggml.tokens": (toks[:100] + [toks[50]] + toks[101:], T.ARRAY, T.STRING)})
        check_error(mb("tokenize", "-m", path, "a"), 3, "duplicates token 50",
                    "a duplicate token text: exit 3")
        path = write_variant("shorttypes.gguf", override={
            "tokenizer.ggml.token_type": ([1] * 10, T.ARRAY, T.INT32)})
        check_error(mb("tokenize", "-m", path, "a"), 3, "token_type",
                    "a token_type array shorter than the vocabulary: exit 3")
        path = write_variant("badtype.gguf", override={
            "tokenizer.ggml.tokens": (list(range(len(toks))), T.ARRAY, T.INT32)})
        check_error(mb("tokenize", "-m", path, "a"), 3, "tokenizer.ggml.tokens",
                    "tokens that are not strings: exit 3")
        path = write_variant("bert.gguf", override={"tokenizer.ggml.model": ("bert", T.STRING,
                                                                             None)})
        check_error(mb("tokenize", "-m", path, "a"), 10, "'bert' is not supported",
                    "an unsupported tokenizer model: exit 10")
        path = write_variant("badbos.gguf", override={
            "tokenizer.ggml.bos_token_id": ("one", T.STRING, None)})
        check_error(mb("tokenize", "-m", path, "a"), 3, "bos_token_id",
                    "a special id of the wrong type: exit 3")

    # --- allocation failures (only builds with MB_DEBUG_ALLOC inject them) ---------------
    p = mb("tokenize", "-m", MODEL, "--ids", "Hello", env={"MB_ALLOC_FAIL_AT": "1"})
    if p.returncode == 0:
        print("# allocation fault injection not compiled in; skipping that loop")
    else:
        crashes = []
        ns = list(range(1, 121)) + list(range(121, 3000, 97))
        for n in ns:
            p = mb("tokenize", "-m", MODEL, "--chat", "--ids", "Hello 123 <|im_end|>",
                   env={"MB_ALLOC_FAIL_AT": str(n)})
            err = p.stderr.decode(errors="replace")
            if p.returncode not in (0, 10) or "Sanitizer" in err or "runtime error" in err or \
                    (p.returncode == 10 and "out of memory" not in err):
                crashes.append((n, p.returncode, err[:200]))
        check(not crashes, f"failing allocation N for {len(ns)} values of N: clean errors",
              crashes[:2])

print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
