#!/usr/bin/env python3
"""quantize_ref.py - the llama.cpp side and the bookkeeping of scripts/bench/quantize.sh.

  quantize_ref.py quantize SRC DST FTYPE [--embd GGML_TYPE_ID] [--threads N]
      llama.cpp's own quantizer (llama_model_quantize of the installed
      llama-cpp-python, no imatrix, re-quantization allowed); prints seconds
  quantize_ref.py decode MODEL [--threads N] [--tokens N] [--prompt TEXT]
      llama.cpp's greedy decode speed (llama_perf_context: tokens / eval time)
  quantize_ref.py facts FILE
      JSON: file size, tensor bytes (what a pack keeps in memory), the bytes of
      the blocks' tensors (blk.*: a data pack's expert blocks), types, and the
      digest of the tensor data (names, types, bytes) to compare two files
  quantize_ref.py report WORK OUT.json TABLE.md DOC.md
      assemble WORK/*.json into the result file and the markdown table, and
      put the table into DOC.md between its bench markers
"""
import argparse
import collections
import ctypes
import datetime
import glob
import hashlib
import json
import os
import platform
import re
import sys
import time

import numpy as np
import gguf

_quiet = None


def llama():
    import llama_cpp
    global _quiet
    if _quiet is None:
        _quiet = llama_cpp.llama_log_callback(lambda *a: None)
        llama_cpp.llama_log_set(_quiet, None)
        llama_cpp.llama_backend_init()
    return llama_cpp


def cmd_quantize(a):
    lc = llama()
    p = lc.llama_model_quantize_default_params()
    p.ftype = a.ftype
    p.allow_requantize = True
    p.nthread = a.threads
    if a.embd is not None:
        p.token_embedding_type = a.embd
        p.output_tensor_type = a.embd
    t = time.time()
    if lc.llama_model_quantize(a.src.encode(), a.dst.encode(), ctypes.byref(p)) != 0:
        sys.exit(f"llama_model_quantize {a.src} -> {a.dst} failed")
    print(f"{time.time() - t:.3f}")


def cmd_decode(a):
    lc = llama()
    llm = lc.Llama(model_path=a.model, n_ctx=512, n_threads=a.threads,
                   n_threads_batch=a.threads, verbose=False)
    best = 0.0
    for _ in range(2):
        llm.reset()
        lc.llama_perf_context_reset(llm._ctx.ctx)
        llm.create_completion(a.prompt, max_tokens=a.tokens, temperature=0.0, top_k=1)
        perf = lc.llama_perf_context(llm._ctx.ctx)
        if perf.t_eval_ms > 0:
            best = max(best, perf.n_eval / perf.t_eval_ms * 1000.0)
    print(json.dumps({"tokens_per_s": best}))


def facts(path):
    r = gguf.GGUFReader(path)
    h = hashlib.sha256()
    types = collections.Counter()
    tensor_bytes = block_bytes = 0
    for t in sorted(r.tensors, key=lambda t: t.name):
        h.update(t.name.encode() + b"\0" + str(int(t.tensor_type)).encode() + b"\0")
        h.update(np.ascontiguousarray(t.data).view(np.uint8).tobytes())
        types[t.tensor_type.name.lower()] += 1
        tensor_bytes += int(t.n_bytes)
        if t.name.startswith("blk."):
            block_bytes += int(t.n_bytes)
    return {"file_bytes": os.path.getsize(path), "tensor_bytes": tensor_bytes,
            "block_bytes": block_bytes, "types": dict(types), "digest": h.hexdigest()}


def cmd_facts(a):
    print(json.dumps(facts(a.file)))


def load(work, name):
    p = os.path.join(work, name)
    return json.load(open(p)) if os.path.exists(p) else None


MIB = 1024.0 * 1024.0


def cmd_report(a):
    w = a.work
    meta = load(w, "meta.json")
    rows = []
    f16 = {"ours": load(w, "facts-ours-f16.json"), "llama": load(w, "facts-llama-f16.json")}
    ppl16 = {"ours": load(w, "ppl-ours-f16.json"), "llama": load(w, "ppl-llama-f16.json")}
    for t in meta["types"]:
        row = {"type": t}
        for who in ("ours", "llama"):
            fa, pp = load(w, f"facts-{who}-{t}.json"), load(w, f"ppl-{who}-{t}.json")
            dec, qt = load(w, f"decode-{who}-{t}.json"), load(w, f"qtime-{who}-{t}.json")
            if fa is None:
                continue
            r = {"file_bytes": fa["file_bytes"], "tensor_bytes": fa["tensor_bytes"],
                 "block_bytes": fa["block_bytes"], "types": fa["types"], "digest": fa["digest"]}
            base = f16[who]
            if base:
                r["memory_vs_f16"] = fa["tensor_bytes"] / base["tensor_bytes"] - 1
                r["blocks_vs_f16"] = fa["block_bytes"] / base["block_bytes"] - 1
            if pp:
                r["ppl"], r["ppl_err"], r["ppl_seconds"] = pp["ppl"], pp["ppl_err"], pp["seconds"]
                if ppl16[who]:
                    r["dppl"] = pp["ppl"] - ppl16[who]["ppl"]
            if dec:
                r["decode_tokens_per_s"] = dec["tokens_per_s"]
            if qt:
                r["quantize_seconds"] = qt["seconds"]
            row[who] = r
        if "ours" in row and "llama" in row:
            row["identical_tensors"] = row["ours"]["digest"] == row["llama"]["digest"]
            po, pl = row["ours"].get("ppl"), row["llama"].get("ppl")
            if po and pl:
                row["ppl_ours_vs_llama"] = po / pl - 1
        rows.append(row)
    result = dict(meta)
    result["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result["rows"] = rows
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    def fmt(v, f="{:.3f}"):
        return "—" if v is None else f.format(v)

    lines = [
        f"SmolLM2-135M-Instruct dequantized to F16, then quantized by us (`gguf quantize`) and by "
        f"llama.cpp (`llama_model_quantize`, llama-cpp-python {meta.get('llama_cpp_python')}); "
        f"perplexity over {meta['text_tokens']} tokens of {meta['text_name']} "
        f"(ctx {meta['ctx']}, {meta.get('chunks', '?')} chunks), ours by `eval perplexity`, "
        f"llama.cpp's by scripts/reference/perplexity_llamacpp.py; decode tokens/s greedy, "
        f"{meta['threads']} threads ({meta['machine']}, {meta['date']}).",
        "",
        "| type | tensors (ours) | file MiB ours / llama.cpp | pack memory MiB (vs F16) "
        "| expert blocks vs F16 | ppl ours | ppl llama.cpp | Δppl ours / llama.cpp "
        "| ppl ours vs llama.cpp | decode tok/s ours / llama.cpp | same bytes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        o, l = row.get("ours", {}), row.get("llama", {})
        tys = ", ".join(f"{k} {v}" for k, v in sorted(o.get("types", {}).items()))
        mem = "{:.1f} ({})".format(o["tensor_bytes"] / MIB, fmt(o.get("memory_vs_f16"), "{:+.1%}")) \
            if o else "—"
        lines.append(
            f"| {row['type']} | {tys} "
            f"| {fmt(o.get('file_bytes', 0) / MIB, '{:.1f}')} / "
            f"{fmt(l['file_bytes'] / MIB if l else None, '{:.1f}')} "
            f"| {mem} | {fmt(o.get('blocks_vs_f16'), '{:+.1%}')} "
            f"| {fmt(o.get('ppl'), '{:.4f}')} ± {fmt(o.get('ppl_err'), '{:.4f}')} "
            f"| {fmt(l.get('ppl'), '{:.4f}')} ± {fmt(l.get('ppl_err'), '{:.4f}')} "
            f"| {fmt(o.get('dppl'), '{:+.4f}')} / {fmt(l.get('dppl'), '{:+.4f}')} "
            f"| {fmt(row.get('ppl_ours_vs_llama'), '{:+.3%}')} "
            f"| {fmt(o.get('decode_tokens_per_s'), '{:.1f}')} / "
            f"{fmt(l.get('decode_tokens_per_s'), '{:.1f}')} "
            f"| {'yes' if row.get('identical_tensors') else ('no' if 'identical_tensors' in row else '—')} |")
    table = "\n".join(lines) + "\n"
    with open(a.table, "w") as f:
        f.write(table)
    if os.path.exists(a.doc):
        doc = open(a.doc).read()
        start, end = "<!-- bench:quantize:start -->", "<!-- bench:quantize:end -->"
        if start in doc and end in doc:
            doc = re.sub(re.escape(start) + ".*?" + re.escape(end),
                         lambda _: start + "\n" + table + end, doc, flags=re.S)
            open(a.doc, "w").write(doc)
    print(table)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("quantize")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("ftype", type=int)
    p.add_argument("--embd", type=int)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("decode")
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--prompt", default="The history of the printing press")
    p = sub.add_parser("facts")
    p.add_argument("file")
    p = sub.add_parser("report")
    p.add_argument("work")
    p.add_argument("out")
    p.add_argument("table")
    p.add_argument("doc")
    a = ap.parse_args()
    {"quantize": cmd_quantize, "decode": cmd_decode, "facts": cmd_facts,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
