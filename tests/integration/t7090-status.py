#!/usr/bin/env python3
"""t7090-status.py - `modularbase status [--json]`, the memory picture of the installed
modular setup, on a real store: four packs (base, router, a resident general pack, an
on-demand data pack) with GGUF files written by gguf-py, built with `pack build` and
installed with `pack install`. Checked against figures computed here independently:
weight bytes (gguf-py's tensor sizes), KV bytes at the default context (F16 keys and values
of every attention block: 2 x 2 bytes x kv width x positions, the context being the base's
context_length capped at 4096), the resident/on-demand totals and the budget verdict. Then
the live picture: a HOME/run/status written for a process that is alive turns states into
resident/loaded, a dead one does not; HOME/usage gives "last used"; a corrupt status file or
pack GGUF gives a warning, not a failure; usage errors exit 2.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
except ImportError as e:
    print(f"error: the Python package gguf is missing ({e}); run scripts/install-deps.sh")
    sys.exit(1)

MB = os.environ.get("MB_BIN")
if not MB:
    print("error: MB_BIN must point at the modularbase binary (run through ctest)")
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="mbstatus.")
atexit.register(shutil.rmtree, tmp, True)
HOME = os.path.join(tmp, "home")
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


def mb(*args, home=HOME):
    env = dict(os.environ, MODULARBASE_HOME=home)
    return subprocess.run([MB] + list(args), capture_output=True, env=env, text=True)


# --- packs: (id, kind, resident, blocks as kv widths, context_length or None)
PACKS = [
    ("tinybase", "base", None, [32, 32], 2048),
    ("router", "router", None, [], None),
    ("general", "data", "true", [32, 32, 32], None),
    ("python", "data", None, [16], None),
]
WIDTH = 64


def write_pack(pid, kind, resident, kv, ctx):
    src = os.path.join(tmp, "src", pid)
    os.makedirs(os.path.join(src, "weights"))
    lines = [f"id: {pid}", f"name: {pid}", "version: 1.0.0", f"kind: {kind}"]
    if kind == "data":
        lines.append("domain: testing")
    if kind != "base":
        lines += ["base_compatibility:", '  - "1.0"']
    if resident:
        lines.append(f"resident: {resident}")
    lines += ["weights:", f"  file: weights/{pid}.gguf"]
    with open(os.path.join(src, "pack.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    w = gguf.GGUFWriter(os.path.join(src, "weights", f"{pid}.gguf"), "llama")
    w.add_string("modularbase.kind", kind)
    w.add_string("modularbase.pack.id", pid)
    w.add_string("modularbase.pack.version", "1.0.0")
    if ctx:
        w.add_uint32("llama.context_length", ctx)
    rng = np.random.default_rng(len(pid))
    if kind == "base":
        w.add_tensor("token_embd.weight", rng.standard_normal((100, WIDTH)).astype(np.float32))
    if kind == "router":
        w.add_tensor("router.projection", rng.standard_normal((8, WIDTH)).astype(np.float32))
    for i, kvw in enumerate(kv):
        # numpy (rows, cols) = (kv width, model width): ggml dims [WIDTH, kvw]
        w.add_tensor(f"blk.{i}.attn_k.weight", rng.standard_normal((kvw, WIDTH)).astype(np.float16))
        w.add_tensor(f"blk.{i}.attn_v.weight", rng.standard_normal((kvw, WIDTH)).astype(np.float16))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(WIDTH, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = subprocess.run([MB, "pack", "build", src, "-o", tmp], capture_output=True, text=True)
    if r.returncode:
        print(f"error: pack build {pid}: {r.stderr}")
        sys.exit(1)
    return os.path.join(tmp, f"{pid}-1.0.0.mbpack")


def weight_bytes(path):
    return sum(int(t.n_bytes) for t in gguf.GGUFReader(path).tensors)


# --- an empty store first
r = mb("status")
check(r.returncode == 0 and "No packs installed" in r.stdout, "status on an empty store",
      r.stdout + r.stderr)
r = mb("status", "--json")
check(r.returncode == 0 and json.loads(r.stdout)["packs"] == [], "status --json on an empty store",
      r.stdout + r.stderr)
r = mb("status", "extra")
check(r.returncode == 2 and "takes no arguments" in r.stderr, "an argument is a usage error",
      r.stderr)
r = mb("status", "--mem-budget", "lots")
check(r.returncode == 2, "a bad --mem-budget is a usage error", r.stderr)
r = mb("status", "--help")
check(r.returncode == 0 and "--mem-budget" in r.stdout, "status --help")

archives = [write_pack(*p) for p in PACKS]
r = mb("pack", "install", "--yes", *archives)
if not check(r.returncode == 0, "install the four packs", r.stdout + r.stderr):
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)

state = json.load(open(os.path.join(HOME, "state.json")))
dirs = {p["id"]: os.path.join(HOME, "packs", p["id"], p["version"]) for p in state["packs"]}
gg = {pid: os.path.join(dirs[pid], "weights", f"{pid}.gguf") for pid, *_ in PACKS}

N_CTX = 2048  # the base's context_length (below the 4096 cap)
expect = {}
for pid, kind, resident, kv, ctx in PACKS:
    res = resident == "true" or kind in ("base", "router")
    expect[pid] = dict(kind=kind, resident=res, weights=weight_bytes(gg[pid]),
                       kv=sum(kv) * N_CTX * 2 * 2, blocks=len(kv))

r = mb("status", "--json")
check(r.returncode == 0, "status --json", r.stderr)
d = json.loads(r.stdout)
check(d["running"] is None, "nothing running")
check(d["n_ctx"] == N_CTX, "KV context is the base's context_length", d["n_ctx"])
check(d["base"] == "tinybase", "the base is named", d["base"])
byid = {p["id"]: p for p in d["packs"]}
check(sorted(byid) == sorted(expect), "every installed pack is listed", sorted(byid))
for pid, e in expect.items():
    p = byid[pid]
    check(p["kind"] == e["kind"] and p["resident"] == e["resident"], f"{pid}: kind and resident",
          p)
    check(p["state"] == "on disk" and p["live"] is False, f"{pid}: on disk when nothing runs", p)
    check(p["weights_bytes"] == e["weights"], f"{pid}: weight bytes = gguf-py's tensor sizes",
          f'{p["weights_bytes"]} vs {e["weights"]}')
    check(p["kv_bytes"] == e["kv"] and p["attention_blocks"] == e["blocks"],
          f"{pid}: KV bytes at the default context", f'{p["kv_bytes"]} vs {e["kv"]}')
    check(p["last_used"] is None and p["uses"] == 0, f"{pid}: never used")
m = d["memory"]
res_w = sum(e["weights"] for e in expect.values() if e["resident"])
res_kv = sum(e["kv"] for e in expect.values() if e["resident"])
check(m["resident_weights"] == res_w and m["resident_kv"] == res_kv and
      m["resident_total"] == res_w + res_kv, "resident totals", m)
check(m["on_demand_packs"] == 1 and
      m["largest_on_demand"] == expect["python"]["weights"] + expect["python"]["kv"],
      "on-demand figures", m)
check(m["mem_budget"] is None and m["fits"] is None, "no budget given", m)

r = mb("status", "--ctx", "100", "--json")
d2 = json.loads(r.stdout)
check({p["id"]: p["kv_bytes"] for p in d2["packs"]}["general"] == 3 * 32 * 100 * 4,
      "--ctx changes the KV figures")

need = res_w + res_kv
r = mb("status", "--json", "--mem-budget", str(need - 1))
check(json.loads(r.stdout)["memory"]["fits"] is False, "a budget below the residents does not fit")
r = mb("status", "--mem-budget", str(need - 1))
check(r.returncode == 0 and "too small" in r.stdout, "the table says the budget is too small",
      r.stdout)
r = mb("status", "--json", "--mem-budget", "1G", "--vram-budget", "512M")
mm = json.loads(r.stdout)["memory"]
check(mm["fits"] is True and mm["mem_budget"] == 1 << 30 and mm["vram_budget"] == 512 << 20,
      "budgets with suffixes", mm)

r = mb("status")
check(r.returncode == 0 and "not running" in r.stdout, "table: not running", r.stdout)
lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln and ln.split()[0] in expect}
check("on disk" in lines.get("python", "") and " no " in lines.get("python", ""),
      "table row of python", lines.get("python"))
check("never" in lines.get("general", ""), "table: never used", lines.get("general"))

# --- the live picture: a status file of a process that is alive (this one)
os.makedirs(os.path.join(HOME, "run"), exist_ok=True)
now = int(__import__("time").time())
status = (f"modularbase-status 1\npid {os.getpid()}\nupdated {now}\nbudget {1 << 30}\n"
          f"reserved 1000\nused 5000\npreloads_skipped 2\n"
          f"pack general resident 1 4000 {now - 5} 3 1 1 0 0\n"
          f"pack python loaded 0 1000 {now - 1} 2 2 2 1 1\n")
with open(os.path.join(HOME, "run", "status"), "w") as f:
    f.write(status)
with open(os.path.join(HOME, "usage"), "w") as f:
    f.write(f"modularbase-usage 1\ngeneral {now - 3600} 7\nrouter {now - 60} 2\n")
r = mb("status", "--json")
d = json.loads(r.stdout)
byid = {p["id"]: p for p in d["packs"]}
check(d["running"] is not None and d["running"]["pid"] == os.getpid(), "running process shown",
      d["running"])
check(byid["general"]["state"] == "resident" and byid["general"]["live"], "general is resident")
check(byid["python"]["state"] == "loaded" and byid["python"]["evictions"] == 1 and
      byid["python"]["preloads"] == 1, "python is loaded, with its counters", byid["python"])
check(byid["tinybase"]["state"] == "on disk", "a pack the cache does not hold stays on disk")
check(byid["general"]["uses"] == 7 and byid["general"]["last_used"] is not None,
      "usage gives uses and last used", byid["general"])
check(byid["router"]["last_used"] is not None and byid["tinybase"]["last_used"] is None,
      "last used per pack", (byid["router"]["last_used"], byid["tinybase"]["last_used"]))
check(d["memory"]["mem_budget"] == 1 << 30, "the running cache's budget is shown", d["memory"])
r = mb("status")
check("running (pid" in r.stdout and "Cache now:" in r.stdout, "table: running", r.stdout)

# a dead process: its status file is stale
dead = subprocess.Popen(["true"])
dead.wait()
with open(os.path.join(HOME, "run", "status"), "w") as f:
    f.write(status.replace(f"pid {os.getpid()}", f"pid {dead.pid}"))
d = json.loads(mb("status", "--json").stdout)
check(d["running"] is None and all(p["state"] == "on disk" for p in d["packs"]),
      "a dead process's status is ignored", d["running"])

# a corrupt status file: a warning, the rest still shown
with open(os.path.join(HOME, "run", "status"), "w") as f:
    f.write("modularbase-status 1\npid x\n")
r = mb("status", "--json")
check(r.returncode == 0 and "warning:" in r.stderr and "status:2:" in r.stderr,
      "a corrupt status file is a warning", r.stderr)

# a corrupt pack GGUF: reported, not fatal
os.chmod(gg["python"], 0o644)
with open(gg["python"], "r+b") as f:
    f.write(b"XXXX")
r = mb("status", "--json")
p = {p["id"]: p for p in json.loads(r.stdout)["packs"]}["python"]
check(r.returncode == 0 and p["weights_bytes"] is None and "problem" in p,
      "a corrupt GGUF is reported in JSON", p)
r = mb("status")
check(r.returncode == 0 and "pack 'python'" in r.stderr, "and warned about in the table", r.stderr)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
