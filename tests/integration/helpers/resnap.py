#!/usr/bin/env python3
"""resnap.py - write a registry's snapshot.json from its files with nothing but
the protocol in docs/registry.md (no modularbase code): the sha256 and size of
registry.json and of every index/<id>.json, a version, a timestamp and an
expiry. The registry tests sign the result with the real minisign CLI to
serve hostile-but-signed states; the registry-update benchmark uses it to
build a 5,000-pack registry quickly.

  resnap.py DIR [--version N] [--expires-in SECONDS] [--timestamp T]
Default version: the current snapshot's + 1 (1 when there is none).
"""
import hashlib
import json
import os
import sys
import time


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def main():
    args = sys.argv[1:]
    d = args[0]
    opts = {"--version": None, "--expires-in": "604800", "--timestamp": None}
    i = 1
    while i < len(args):
        opts[args[i]] = args[i + 1]
        i += 2
    snap_path = os.path.join(d, "snapshot.json")
    reg = open(os.path.join(d, "registry.json"), "rb").read()
    name = json.loads(reg)["name"]
    version = opts["--version"]
    if version is None:
        version = 1
        if os.path.exists(snap_path):
            version = json.load(open(snap_path))["version"] + 1
    now = int(opts["--timestamp"]) if opts["--timestamp"] else int(time.time())
    packs = {}
    idx = os.path.join(d, "index")
    for f in sorted(os.listdir(idx)):
        if not f.endswith(".json"):
            continue
        b = open(os.path.join(idx, f), "rb").read()
        kind = json.loads(b)["kind"]
        packs[f[:-5]] = (kind, hashlib.sha256(b).hexdigest(), len(b))
    lines = [
        "{",
        '  "format": 1,',
        f'  "name": {json.dumps(name)},',
        f'  "version": {int(version)},',
        f'  "timestamp": "{rfc3339(now)}",',
        f'  "expires": "{rfc3339(now + int(opts["--expires-in"]))}",',
        f'  "registry": {{"sha256": "{hashlib.sha256(reg).hexdigest()}", "size": {len(reg)}}},',
    ]
    if packs:
        lines.append('  "packs": {')
        items = [
            f'    "{k}": {{"kind": "{v[0]}", "sha256": "{v[1]}", "size": {v[2]}}}'
            for k, v in sorted(packs.items())
        ]
        lines.append(",\n".join(items))
        lines.append("  }")
    else:
        lines.append('  "packs": {}')
    lines.append("}")
    with open(snap_path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(snap_path + ".tmp", snap_path)


if __name__ == "__main__":
    main()
