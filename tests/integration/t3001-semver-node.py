#!/usr/bin/env python3
"""t3001-semver-node.py - `modularbase semver` against the real node-semver
(Debian's node-semver, the reference implementation): every case of
tests/data/semver/ranges.txt must get the same answer from both, every range
must desugar to the same comparators as node's validRange(), and every string
in invalid-ranges.txt must be rejected by both. Also checks the CLI contract:
sorted output, exit 1 when nothing matches, exit 3 with a message for invalid
input. Skips (77) when node or node-semver is missing."""
import json
import os
import shutil
import subprocess
import sys

MB = os.environ["MB_BIN"]
DATA = os.environ.get("MB_TEST_DATA") or os.path.join(os.path.dirname(__file__), "..", "data")
env = dict(os.environ, NODE_PATH="/usr/share/nodejs:/usr/lib/nodejs:" + os.environ.get("NODE_PATH", ""))
passed = failed = 0


def check(desc, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("not ok - %s %s" % (desc, detail))


node = shutil.which("node") or shutil.which("nodejs")
if not node or subprocess.run([node, "-e", "require('semver')"], env=env,
                              capture_output=True).returncode:
    print("skipped: node-semver is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)

cases = []
for line in open(os.path.join(DATA, "semver", "ranges.txt")):
    if line.startswith("#") or not line.strip():
        continue
    r, v, want, flag = line.rstrip("\n").split("\t")
    cases.append((r, v, want, flag == "p"))
invalid = [l.rstrip("\n") for l in open(os.path.join(DATA, "semver", "invalid-ranges.txt"))
           if l.strip() and not l.startswith("#")]

script = r"""
const semver = require('semver');
const inp = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {sat: [], exp: {}, invalid: []};
for (const [r, v, p] of inp.cases) out.sat.push(semver.satisfies(v, r, {includePrerelease: p}));
for (const [r, p] of inp.ranges) out.exp[r + '\t' + p] = semver.validRange(r, {includePrerelease: p});
for (const r of inp.invalid) out.invalid.push(semver.validRange(r));
console.log(JSON.stringify(out));
"""
ranges = sorted({(r, p) for r, _, _, p in cases})
res = subprocess.run([node, "-e", script], input=json.dumps(
    {"cases": [(r, v, p) for r, v, _, p in cases], "ranges": ranges, "invalid": invalid}),
    capture_output=True, text=True, env=env)
if res.returncode:
    print("node failed:", res.stderr)
    sys.exit(1)
ref = json.loads(res.stdout)

for (r, v, want, p), node_sat in zip(cases, ref["sat"]):
    args = [MB, "semver", "-r", r, v] + (["-p"] if p else [])
    got = subprocess.run(args, capture_output=True, text=True)
    ours = got.returncode == 0
    check("node agrees with the table: %r %s" % (r, v), node_sat == (want == "yes"))
    check("modularbase agrees with node: %r %s%s" % (r, v, " -p" if p else ""), ours == node_sat,
          "(exit %d %s)" % (got.returncode, got.stderr.strip()))
for r, p in ranges:
    got = subprocess.run([MB, "semver", "--expand", r] + (["-p"] if p else []),
                         capture_output=True, text=True)
    want = ref["exp"][r + "\t" + ("true" if p else "false")]
    check("--expand %r matches node's validRange" % r, got.stdout.strip() == want,
          "(%r vs %r)" % (got.stdout.strip(), want))
for r, node_v in zip(invalid, ref["invalid"]):
    got = subprocess.run([MB, "semver", "-r", r, "1.0.0"], capture_output=True, text=True)
    check("node rejects %r" % r, node_v is None)
    check("modularbase rejects %r with exit 3" % r,
          got.returncode == 3 and "is not a valid range" in got.stderr, got.stderr)

# Increments (-i LEVEL [--preid ID]) against node's inc().
vers = ["1.2.3", "1.2.0", "1.0.0", "0.0.1", "1.2.3-4", "1.2.3-beta", "1.2.3-beta.4", "1.2.0-0",
        "1.0.0-5", "1.2.3-alpha.beta", "1.2.3-1.alpha", "1.2.3-beta.x.7.y", "0.1.0-rc.9"]
levels = ["major", "minor", "patch", "premajor", "preminor", "prepatch", "prerelease"]
incs = [(v, l, p) for v in vers for l in levels for p in (None, "beta", "alpha")]
inc_script = """const s = require('semver');
const c = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(c.map(([v, l, p]) => s.inc(v, l, p || undefined))));"""
res = subprocess.run([node, "-e", inc_script], input=json.dumps(incs), capture_output=True,
                     text=True, env=env)
for (v, l, p), want in zip(incs, json.loads(res.stdout)):
    got = subprocess.run([MB, "semver", "-i", l, v] + (["--preid", p] if p else []),
                         capture_output=True, text=True).stdout.strip()
    check("-i %s%s %s matches node's inc()" % (l, " --preid " + p if p else "", v), got == want,
          "(%r vs %r)" % (got, want))
got = subprocess.run([MB, "semver", "-i", "huge", "1.0.0"], capture_output=True, text=True)
check("-i with an unknown level is a usage error", got.returncode == 2 and "not an increment" in got.stderr)

# The CLI contract (node-semver's tool: sorted, exit 1 when none).
got = subprocess.run([MB, "semver", "-r", "^1.2", "2.0.0", "1.9.0", "v1.2.5", "1.1.0", "1.2.5+b"],
                     capture_output=True, text=True)
check("sorted, cleaned output", got.returncode == 0 and got.stdout == "1.2.5\n1.2.5\n1.9.0\n",
      repr(got.stdout))
node_out = subprocess.run([node, "/usr/share/nodejs/semver/bin/semver.js", "-r", "^1.2", "2.0.0",
                           "1.9.0", "v1.2.5", "1.1.0", "1.2.5+b"], capture_output=True, text=True,
                          env=env)
check("same output as node's semver tool", node_out.stdout == got.stdout,
      repr((node_out.stdout, got.stdout)))
got = subprocess.run([MB, "semver", "-r", ">=1", "-r", "<1.5", "1.0.0", "1.4.0", "1.5.0", "0.9.0"],
                     capture_output=True, text=True)
check("every -r must match", got.stdout == "1.0.0\n1.4.0\n", repr(got.stdout))
got = subprocess.run([MB, "semver", "-r", "^2", "1.0.0"], capture_output=True, text=True)
check("exit 1 when nothing matches", got.returncode == 1 and got.stdout == "")
got = subprocess.run([MB, "semver", "1.0"], capture_output=True, text=True)
check("invalid version: exit 3 and a message",
      got.returncode == 3 and '"1.0" is not a valid version' in got.stderr, got.stderr)
got = subprocess.run([MB, "semver", "--json", "--reverse", "1.0.0", "2.0.0-rc.1", "2.0.0"],
                     capture_output=True, text=True)
check("--json --reverse", json.loads(got.stdout) == ["2.0.0", "2.0.0-rc.1", "1.0.0"], got.stdout)
got = subprocess.run([MB, "semver"], capture_output=True, text=True)
check("no version is a usage error (exit 2)", got.returncode == 2)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
