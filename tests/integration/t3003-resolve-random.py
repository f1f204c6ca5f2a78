#!/usr/bin/env python3
"""t3003-resolve-random.py - property test of `modularbase resolve` on random
small registries: every plan it prints must satisfy the request, every
dependency, conflict and base_compatibility, contain exactly one base and no
yanked version; every "no solution" answer is checked by brute force over all
selections. Ends with "N passed, N failed"."""
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile

MB = os.environ.get("MB_BIN")
if not MB:
    print("MB_BIN is not set (run through ctest)")
    sys.exit(1)
CASES = int(os.environ.get("MB_RANDOM_CASES", "250"))
passed = failed = 0


def vt(s):
    return tuple(int(x) for x in s.split("."))


def satisfies(rng, v):
    """The subset of node-semver ranges this generator emits (no prereleases)."""
    v = vt(v)
    for alt in rng.split("||"):
        ok = True
        for c in alt.split():
            if c == "*":
                continue
            if c.startswith("^"):
                b = vt(c[1:])
                hi = (b[0] + 1, 0, 0) if b[0] else ((0, b[1] + 1, 0) if b[1] else (0, 0, b[2] + 1))
                ok &= b <= v < hi
            elif c.startswith(">="):
                ok &= v >= vt(c[2:])
            elif c.startswith("<"):
                ok &= v < vt(c[1:])
            elif c.endswith(".x"):
                ok &= v[0] == int(c[:-2])
            else:
                ok &= v == vt(c)
        if ok:
            return True
    return False


def rand_range(rnd, versions):
    if rnd.random() < 0.06:  # a range no version matches
        return rnd.choice([">=9.0.0", ">=8.%d.0" % rnd.randint(0, 5), "^7.0.0"])
    v = vt(rnd.choice(versions))
    return rnd.choice([
        "*", "^%d.%d.%d" % v, ">=%d.%d.%d" % v, "%d.%d.%d" % v, "%d.x" % v[0],
        ">=%d.0.0 <%d.0.0" % (v[0], v[0] + 1), "%d.%d.%d || ^%d.0.0" % (v + (v[0] + 1,)),
    ])


def gen(rnd):
    vers_pool = ["0.1.0", "0.2.0", "1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "3.0.0"]
    packs = {}
    for b in ["base-a", "base-b"][: rnd.randint(1, 2)]:
        packs[b] = {"kind": "base", "versions": [{"version": v, "yanked": rnd.random() < 0.1}
                                                  for v in sorted(rnd.sample(vers_pool[2:], rnd.randint(1, 3)), key=vt)]}
    bases = list(packs)
    data = ["p%d" % i for i in range(rnd.randint(2, 6))]
    allv = {p: sorted(rnd.sample(vers_pool, rnd.randint(1, 4)), key=vt) for p in data}
    for p in data:
        vs = []
        for v in allv[p]:
            e = {"version": v, "yanked": rnd.random() < 0.1, "deps": [], "conflicts": []}
            bv = [x["version"] for x in packs[rnd.choice(bases)]["versions"]]
            e["compat"] = [rand_range(rnd, bv)]
            if rnd.random() < 0.15:
                e["base"] = rnd.choice(bases)
            for q in rnd.sample(data, rnd.randint(0, 2)):
                if q != p:
                    e["deps"].append((q, rand_range(rnd, allv[q])))
            if rnd.random() < 0.2:
                q = rnd.choice(data)
                if q != p:
                    e["conflicts"].append((q, rand_range(rnd, allv[q]) if rnd.random() < 0.5 else None))
            if rnd.random() < 0.05:
                e["deps"].append(("missing-pack", "*"))
            vs.append(e)
        packs[p] = {"kind": "data", "versions": vs}
    req = [(q, rand_range(rnd, allv[q]) if rnd.random() < 0.5 else None)
           for q in rnd.sample(data, rnd.randint(1, min(3, len(data))))]
    if rnd.random() < 0.2:
        req.append((rnd.choice(bases), None))
    return packs, req


def write(packs, d):
    os.makedirs(os.path.join(d, "index"))
    for pid, p in packs.items():
        out = []
        for e in p["versions"]:
            r = {"version": e["version"], "name": pid, "archive": "a/%s-%s" % (pid, e["version"]),
                 "sha256": "0" * 64, "size": 1, "yanked": e["yanked"]}
            if p["kind"] != "base":
                r["base_compatibility"] = e["compat"]
                if e.get("base"):
                    r["base"] = e["base"]
                if e["deps"]:
                    r["dependencies"] = [{"id": q, "version": rg} for q, rg in e["deps"]]
                if e["conflicts"]:
                    r["conflicts"] = [{"id": q, "version": rg} if rg else {"id": q}
                                      for q, rg in e["conflicts"]]
            out.append(r)
        with open(os.path.join(d, "index", pid + ".json"), "w") as f:
            json.dump({"format": 1, "id": pid, "kind": p["kind"], "versions": out}, f)


def valid(packs, req, sel):
    """sel: {id: version}. True when it is a solution."""
    if sum(1 for p in sel if packs[p]["kind"] == "base") != 1:
        return False
    base = next(p for p in sel if packs[p]["kind"] == "base")
    for q, rg in req:
        if q not in sel or (rg and not satisfies(rg, sel[q])):
            return False
    for p, v in sel.items():
        e = next(x for x in packs[p]["versions"] if x["version"] == v)
        if e["yanked"]:
            return False
        if packs[p]["kind"] == "base":
            continue
        if not any(satisfies(c, sel[base]) for c in e["compat"]):
            return False
        if e.get("base") and e["base"] != base:
            return False
        for q, rg in e["deps"]:
            if q not in sel or not satisfies(rg, sel[q]):
                return False
        for q, rg in e["conflicts"]:
            if q in sel and (rg is None or satisfies(rg, sel[q])):
                return False
    return True


def exists(packs, req):
    ids = list(packs)
    choices = [[None] + [e["version"] for e in packs[p]["versions"] if not e["yanked"]] for p in ids]
    for combo in itertools.product(*choices):
        sel = {p: v for p, v in zip(ids, combo) if v}
        if valid(packs, req, sel):
            return sel
    return None


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("not ok - %s %s" % (name, detail))


rnd = random.Random(int(os.environ.get("MB_RANDOM_SEED", "3003")))
nsol = nconf = 0
with tempfile.TemporaryDirectory() as tmp:
    for i in range(CASES):
        packs, req = gen(rnd)
        d = os.path.join(tmp, str(i))
        write(packs, d)
        args = [MB, "resolve", "--json", "--index-dir", d] + [q + ("@" + rg if rg else "") for q, rg in req]
        r = subprocess.run(args, capture_output=True, text=True)
        case = "case %d (%s)" % (i, " ".join(args[5:]))
        if r.returncode == 0:
            nsol += 1
            plan = json.loads(r.stdout)
            sel = {e["id"]: e["version"] for e in plan["packs"]}
            check(case + " plan is a solution", valid(packs, req, sel), json.dumps(sel))
        elif r.returncode == 7:
            nconf += 1
            found = exists(packs, req)
            check(case + " no solution exists", found is None, "but %s works" % found)
            check(case + " explanation printed", "no solution was found" in r.stderr, r.stderr[-300:])
            check(case + " no 'root' in the explanation", "root" not in r.stderr, r.stderr)
        else:
            check(case + " exit 0 or 7", False, "exit %d: %s" % (r.returncode, r.stderr[-300:]))
print("# %d solved, %d without solution" % (nsol, nconf))
check("both outcomes were exercised", nsol > 20 and nconf > 20, "(%d, %d)" % (nsol, nconf))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
