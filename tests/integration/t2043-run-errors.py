#!/usr/bin/env python3
"""t2043-run-errors.py - bad input to `run`, `chat` and `eval logits`: one clear line, the
documented exit status, never a crash.

Broken models are built from the real SmolLM2 file with gguf-py's writer (the reference
implementation of the format): a non-llama architecture, a missing tensor, a tensor of the
wrong shape, a tensor of a type we do not multiply, a missing hyper-parameter, and heads that
do not divide. Then: missing and non-GGUF files, empty prompts, prompts longer than --ctx,
invalid sampling and context options, usage mistakes, and (in builds with
MB_DEBUG_ALLOC) a failing allocation at every point of a whole `run`.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
    from gguf import GGUFReader, GGUFWriter, GGUFValueType
except ImportError as e:
    print(f"error: the Python package gguf is missing ({e}); run scripts/install-deps.sh")
    sys.exit(1)

MB = os.environ.get("MB_BIN")
MODEL = os.environ.get("MB_MODEL") or os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
    "modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf")
SAN = os.environ.get("MB_SANITIZE") in ("1", "ON", "TRUE", "true")
if not MB:
    print("error: MB_BIN must point at the modularbase binary (run through ctest)")
    sys.exit(1)
if not os.path.exists(MODEL):
    if os.environ.get("MB_REQUIRE_MODEL") == "1":
        print(f"error: the real model is required but missing at {MODEL}")
        sys.exit(1)
    print(f"skipped: model not fetched ({MODEL}); run scripts/fetch-model.sh")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="mberr.")
atexit.register(shutil.rmtree, tmp, True)
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


def mb(*args, stdin=b"", env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([MB, *args], input=stdin, capture_output=True, env=e)


def check_error(p, status, text, desc):
    """Exit status, one 'error:' line naming `text`, nothing on stdout, no sanitizer report."""
    err = p.stderr.decode(errors="replace")
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    ok = (p.returncode == status and len(lines) == 1 and text in lines[0] and
          p.stdout == b"" and "Sanitizer" not in err and "runtime error" not in err)
    check(ok, desc, f"exit {p.returncode}, stderr {err.strip()[:300]!r}")


def rewrite(dst, arch=None, drop_key=None, set_u32=None, drop=None, replace=None):
    """A copy of the real model with changes (gguf-py reader -> writer)."""
    r = GGUFReader(MODEL)
    w = GGUFWriter(dst, arch or r.fields["general.architecture"].contents())
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name == drop_key:
            continue
        vt = f.types[0]
        if set_u32 and name in set_u32:
            w.add_uint32(name, set_u32[name])
        elif vt == GGUFValueType.ARRAY:
            w.add_key_value(name, f.contents(), vt, sub_type=f.types[-1])
        else:
            w.add_key_value(name, f.contents(), vt)
    for t in r.tensors:
        if t.name == drop:
            continue
        if replace and t.name in replace:
            data, qtype = replace[t.name]
            w.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=qtype)
            continue
        w.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def broken(name, **kw):
    path = os.path.join(tmp, name + ".gguf")
    rewrite(path, **kw)
    return path


# --- broken models -----------------------------------------------------------------------
path = broken("gpt2", arch="gpt2")
check_error(mb("run", "-m", path, "-p", "hi"), 10, "architecture 'gpt2' is not a llama-family",
            "a GPT-2 architecture file: exit 10, names the architecture")
path = broken("no-tensor", drop="blk.7.ffn_up.weight")
check_error(mb("run", "-m", path, "-p", "hi"), 4, "missing tensor 'blk.7.ffn_up.weight'",
            "a missing tensor: exit 4, names it")
check_error(mb("chat", "-m", path, stdin=b"hi\n"), 4, "'blk.7.ffn_up.weight'",
            "chat on the same file: exit 4")
q = GGUFReader(MODEL)
q_attn = next(t for t in q.tensors if t.name == "blk.3.attn_q.weight")
path = broken("bad-shape", replace={"blk.3.attn_k.weight": (np.array(q_attn.data),
                                                           q_attn.tensor_type)})
check_error(mb("run", "-m", path, "-p", "hi"), 3,
            "tensor 'blk.3.attn_k.weight' has shape 576 x 576, expected 576 x 192",
            "a tensor of the wrong shape: exit 3, both shapes named")
path = broken("bad-type", replace={"blk.0.ffn_norm.weight": (
    np.zeros(576, dtype=np.int32), gguf.GGMLQuantizationType.I32)})
check_error(mb("run", "-m", path, "-p", "hi"), 10, "'blk.0.ffn_norm.weight' has type i32",
            "a tensor of an unsupported type: exit 10, names it")
path = broken("no-key", drop_key="llama.embedding_length")
check_error(mb("run", "-m", path, "-p", "hi"), 4, "no key 'llama.embedding_length'",
            "a missing hyper-parameter: exit 4, names the key")
path = broken("heads", set_u32={"llama.attention.head_count_kv": 4})
check_error(mb("run", "-m", path, "-p", "hi"), 3, "9 query heads and 4 key/value heads",
            "key/value heads that do not divide the query heads: exit 3")
path = broken("blocks", set_u32={"llama.block_count": 31})
check_error(mb("eval", "logits", "-m", path, "hi"), 4, "missing tensor 'blk.30.attn_norm.weight'",
            "block_count past the file's blocks: exit 4")
check_error(mb("run", "-m", os.path.join(tmp, "absent.gguf"), "-p", "hi"), 4, "absent.gguf",
            "a missing file: exit 4")
with open(os.path.join(tmp, "text.gguf"), "w") as f:
    f.write("this is not a GGUF file\n" * 10)
check_error(mb("run", "-m", os.path.join(tmp, "text.gguf"), "-p", "hi"), 3, "text.gguf",
            "a file that is not GGUF: exit 3")

# --- prompts ----------------------------------------------------------------------------
check_error(mb("run", "-m", MODEL, "-p", ""), 2, "the prompt is empty", "an empty prompt: exit 2")
check_error(mb("run", "-m", MODEL, "-p", "-", stdin=b"\n"), 2, "the prompt is empty",
            "an empty prompt on stdin: exit 2")
check_error(mb("run", "-m", MODEL, "--raw", "-p", "word " * 40, "--ctx", "16"), 3,
            "does not fit in the context of 16 tokens", "a prompt longer than --ctx: exit 3")
check_error(mb("run", "-m", MODEL, "-p", "hello", "--ctx", "16"), 3, "(raise --ctx)",
            "a chat prompt longer than --ctx (the template adds a system prompt): exit 3")
p = mb("chat", "-m", MODEL, "--ctx", "40", "-n", "2", stdin=b"hello there\n" + b"word " * 60 +
       b"\nhi\n")
err = p.stderr.decode(errors="replace")
check(p.returncode == 3 and "does not fit in the context of 40 tokens" in err and
      err.count("error:") == 2 and p.stdout.count(b"\n") == 2,
      "chat: a message too long for the context is an error for that turn; the others are "
      "answered; exit 3 at the end", f"exit {p.returncode}, {err.strip()[:300]!r}")
check_error(mb("eval", "logits", "-m", MODEL, "--ids", "1,99999"), 3, "outside the vocabulary",
            "eval logits with a token id outside the vocabulary: exit 3")
check_error(mb("eval", "logits", "-m", MODEL, "--ids", "1,x"), 2, "'x' is not a token id",
            "eval logits with a malformed id list: exit 2")

# --- options ----------------------------------------------------------------------------
for args, text in [
    (["--temp", "-1"], "temperature"),
    (["--temp", "nan"], "--temp"),
    (["--top-p", "0"], "top-p"),
    (["--top-p", "1.5"], "top-p"),
    (["--min-p", "-0.1"], "min-p"),
    (["--min-p", "2"], "min-p"),
    (["--top-k", "-1"], "--top-k"),
    (["--repeat-penalty", "0"], "repeat penalty"),
    (["--repeat-last-n", "-2"], "--repeat-last-n"),
    (["-n", "-2"], "--n-predict"),
    (["--ctx", "3"], "--ctx"),
    (["--threads", "1000"], "--threads"),
    (["--kv-type", "q8_0"], "--kv-type"),
    (["--temp", "warm"], "'warm' is not a number"),
    (["--seed", "-5"], "--seed"),
    (["--stop", ""], "--stop"),
]:
    check_error(mb("run", "-m", MODEL, "-p", "hi", *args), 2, text,
                f"run {' '.join(args)}: exit 2, names the option")
check_error(mb("chat", "-m", MODEL, "--top-p", "0", stdin=b"hi\n"), 2, "top-p",
            "chat validates sampling options too")
# Without --model, run and chat use the installed packs (docs/modular.md): an empty store
# is a clear "not found".
empty_home = {"MODULARBASE_HOME": tempfile.mkdtemp(prefix="mb2043.")}
check_error(mb("run", "-p", "hi", env=empty_home), 4, "no packs are installed",
            "run without --model and nothing installed")
check_error(mb("chat", stdin=b"hi\n", env=empty_home), 4, "no packs are installed",
            "chat without --model and nothing installed")
shutil.rmtree(empty_home["MODULARBASE_HOME"], ignore_errors=True)
check_error(mb("run", "-m", MODEL), 2, "no prompt", "run without -p")
check_error(mb("run", "-m", MODEL, "-p", "hi", "extra"), 2, "unexpected argument 'extra'",
            "run with a stray argument")
check_error(mb("run", "-m", MODEL, "-p", "hi", "--raw", "--system", "x"), 2, "--raw",
            "--raw with --system")
check_error(mb("run", "-m", MODEL, "-p", "hi", "--template", "jinja"), 2, "jinja",
            "an unknown --template")

# --- allocation failures (only builds with MB_DEBUG_ALLOC inject them) ------------------
RUN = ["run", "-m", MODEL, "--template", "chatml", "-p", "Hi", "--temp", "0", "-n", "2",
       "--ctx", "32"]
p = mb(*RUN, env={"MB_ALLOC_FAIL_AT": "1"})
if p.returncode == 0:
    print("# allocation fault injection not compiled in; skipping that loop")
else:
    # A whole run makes about 120 allocations (none per token): fail each of the first
    # 160, then a sample beyond.
    bad = []
    ns = list(range(1, 161)) + list(range(161, 3000, 97))
    for n in ns:
        p = mb(*RUN, env={"MB_ALLOC_FAIL_AT": str(n)})
        err = p.stderr.decode(errors="replace")
        if p.returncode not in (0, 10) or "Sanitizer" in err or "runtime error" in err or \
                (p.returncode == 10 and "out of memory" not in err):
            bad.append((n, p.returncode, err[:200]))
    check(not bad, f"a failing allocation at {len(ns)} points of a run: clean errors", bad[:2])

print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
