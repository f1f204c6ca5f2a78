#!/usr/bin/env python3
"""gen_resolve.py - generate synthetic registries for the resolver benchmark.

  gen_resolve.py large OUT [--packs 10000] [--versions 20] [--seed 1]
      OUT/index/<id>.json for a random dependency DAG (pack i depends only on
      packs with a higher index), one base pack with three versions, and
      OUT/request.txt with 20 requested ids. 70% of dependencies go to the
      last 5% of packs (popular "core" packs), the rest to nearby ones. Newer versions of a pack depend
      on newer majors of their dependencies; 10% of versions pin an older
      major, and 5% need base ^2, so the solver has to backtrack.
  gen_resolve.py pathological OUT [--versions 500]
      pubgrub-rs issue #135: the request needs foo; foo has N versions and
      foo i.0.0 depends on bad >=i.0.0, but bad only has 0.1.0, so every
      version fails, each for its own reason.
  Both accept --wheels DIR: also write the same problem as minimal wheels
  (METADATA with Requires-Dist, for `uv pip compile --find-links DIR
  --no-index`), restricted to the packs reachable from the request, and
  DIR/requirements.in.
"""
import argparse
import hashlib
import json
import os
import random
import zipfile


def vstr(v):
    return "%d.%d.%d" % v


def write_index(out, pid, kind, versions):
    """versions: list of dicts with version, deps [(id, lo, hi)], compat (lo, hi) or None."""
    recs = []
    for v in versions:
        r = {
            "version": vstr(v["version"]),
            "name": pid,
            "archive": "packs/%s/%s-%s.mbpack" % (pid, pid, vstr(v["version"])),
            "sha256": hashlib.sha256(("%s-%s" % (pid, vstr(v["version"]))).encode()).hexdigest(),
            "size": 1000,
        }
        if kind != "base":
            lo, hi = v["compat"]
            r["base_compatibility"] = [">=%s <%s" % (vstr(lo), vstr(hi))]
        if v["deps"]:
            r["dependencies"] = [
                {"id": d, "version": ">=%s" % vstr(lo) + (" <%s" % vstr(hi) if hi else "")}
                for d, lo, hi in v["deps"]
            ]
        recs.append(r)
    with open(os.path.join(out, "index", pid + ".json"), "w") as f:
        json.dump({"format": 1, "id": pid, "kind": kind, "versions": recs}, f,
                  separators=(",", ":"))


def write_wheels(wdir, packs, request, base_id):
    """Minimal wheels (name-version-py3-none-any.whl) with the same dependencies."""
    os.makedirs(wdir, exist_ok=True)
    reach, todo = set(), list(request) + [base_id]
    while todo:
        p = todo.pop()
        if p in reach or p not in packs:
            continue
        reach.add(p)
        for v in packs[p]["versions"]:
            todo.extend(d for d, _, _ in v["deps"])
    for p in sorted(reach):
        for v in packs[p]["versions"]:
            name, ver = p.replace("-", "_"), vstr(v["version"])
            reqs = ["%s>=%s%s" % (d, vstr(lo), ",<%s" % vstr(hi) if hi else "")
                    for d, lo, hi in v["deps"]]
            if packs[p]["kind"] != "base":
                lo, hi = v["compat"]
                reqs.append("%s>=%s,<%s" % (base_id, vstr(lo), vstr(hi)))
            meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (p, ver)
            meta += "".join("Requires-Dist: %s\n" % r for r in reqs)
            dist = "%s-%s.dist-info" % (name, ver)
            path = os.path.join(wdir, "%s-%s-py3-none-any.whl" % (name, ver))
            with zipfile.ZipFile(path, "w") as z:
                z.writestr(dist + "/METADATA", meta)
                z.writestr(dist + "/WHEEL", "Wheel-Version: 1.0\nGenerator: gen\n"
                           "Root-Is-Purelib: true\nTag: py3-none-any\n")
                z.writestr(dist + "/RECORD", "")
    with open(os.path.join(wdir, "requirements.in"), "w") as f:
        for r in request:
            f.write(r + "\n")
        f.write(base_id + "\n")
    return len(reach)


def gen_large(a):
    rnd = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "index"), exist_ok=True)
    n, nv = a.packs, a.versions
    majors = 4
    per = max(1, nv // majors)
    packs = {}
    base_id = "bench-base"
    packs[base_id] = {"kind": "base", "versions": [
        {"version": v, "deps": [], "compat": None} for v in [(1, 0, 0), (1, 1, 0), (2, 0, 0)]]}
    ids = ["p%05d" % i for i in range(n)]
    for i, pid in enumerate(ids):
        vers = []
        for k in range(nv):
            M = 1 + min(k // per, majors - 1)
            m = k - (M - 1) * per
            deps = []
            ndeps = rnd.choice([0, 1, 1, 2, 2, 3]) if i < n - 1 else 0
            for _ in range(ndeps):
                # Mostly "popular" packs (the last 5%, like core libraries), else nearby ones.
                core = max(i + 1, n - max(1, n // 20))
                if rnd.random() < 0.7:
                    j = rnd.randint(core, n - 1)
                else:
                    j = rnd.randint(i + 1, min(n - 1, i + 50))
                tgt = ids[j]
                if any(d == tgt for d, _, _ in deps):
                    continue
                tm = M if rnd.random() > 0.1 else max(1, M - 1)
                deps.append((tgt, (tm, 0, 0), (tm + 1, 0, 0)))
            compat = ((1, 0, 0), (2, 0, 0)) if rnd.random() > 0.05 else ((2, 0, 0), (3, 0, 0))
            vers.append({"version": (M, m, 0), "deps": deps, "compat": compat})
        packs[pid] = {"kind": "data", "versions": vers}
    for pid, p in packs.items():
        write_index(a.out, pid, p["kind"], p["versions"])
    request = rnd.sample(ids[: n // 2], 20)
    with open(os.path.join(a.out, "request.txt"), "w") as f:
        f.write(" ".join(request + [base_id]) + "\n")
    if a.wheels:
        r = write_wheels(a.wheels, packs, request, base_id)
        print("wheels for %d reachable packs" % r)


def gen_pathological(a):
    os.makedirs(os.path.join(a.out, "index"), exist_ok=True)
    base_id = "bench-base"
    packs = {
        base_id: {"kind": "base", "versions": [{"version": (1, 0, 0), "deps": [], "compat": None}]},
        "bad": {"kind": "data", "versions": [
            {"version": (0, 1, 0), "deps": [], "compat": ((1, 0, 0), (2, 0, 0))}]},
        "foo": {"kind": "data", "versions": [
            {"version": (i, 0, 0), "deps": [("bad", (i, 0, 0), None)],
             "compat": ((1, 0, 0), (2, 0, 0))} for i in range(1, a.versions + 1)]},
    }
    for pid, p in packs.items():
        write_index(a.out, pid, p["kind"], p["versions"])
    with open(os.path.join(a.out, "request.txt"), "w") as f:
        f.write("foo %s\n" % base_id)
    if a.wheels:
        write_wheels(a.wheels, packs, ["foo"], base_id)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("large")
    l.add_argument("out")
    l.add_argument("--packs", type=int, default=10000)
    l.add_argument("--versions", type=int, default=20)
    l.add_argument("--seed", type=int, default=1)
    l.add_argument("--wheels")
    p = sub.add_parser("pathological")
    p.add_argument("out")
    p.add_argument("--versions", type=int, default=500)
    p.add_argument("--wheels")
    a = ap.parse_args()
    (gen_large if a.cmd == "large" else gen_pathological)(a)


if __name__ == "__main__":
    main()
