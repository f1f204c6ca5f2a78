"""gguf_ref.py - shared helpers for the GGUF integration tests (t1*.py).

They compare what `modularbase gguf inspect --json` and `modularbase gguf
dump-tensor --raw` report with what the reference implementation, the PyPI
package gguf (gguf-py), reads from the same file: metadata keys, value types,
values and offsets; tensor names, shapes, types and offsets; and the
dequantized values of every tensor, bit for bit.
"""

import json
import os
import subprocess
import sys

import numpy as np

try:
    import gguf
    from gguf import GGUFReader, GGUFValueType, GGMLQuantizationType
except ImportError as e:  # the reference peer is part of the test setup
    print(f"error: the Python package gguf is missing ({e}); run scripts/install-deps.sh")
    sys.exit(1)

MB = os.environ.get("MB_BIN")
if not MB:
    print("error: MB_BIN must point at the modularbase binary (run through ctest)")
    sys.exit(1)

# Types our dequantizer supports (kernels/mb_dequant.h).
DEQUANT_TYPES = {
    GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16,
    GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q4_1,
    GGMLQuantizationType.Q5_0, GGMLQuantizationType.Q5_1, GGMLQuantizationType.Q4_K,
    GGMLQuantizationType.Q5_K, GGMLQuantizationType.Q6_K,
}


class Checker:
    """Counts checks; prints 'ok'/'not ok' lines and the final tally."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, desc, detail=None):
        if cond:
            self.passed += 1
            print(f"ok - {desc}")
        else:
            self.failed += 1
            print(f"not ok - {desc}" + (f" ({detail})" if detail else ""))
        return cond

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)


def run_mb(*args, **kw):
    """Run the binary; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([MB, *args], capture_output=True, timeout=kw.get("timeout", 300))


def inspect_json(path):
    p = run_mb("gguf", "inspect", "--json", path)
    if p.returncode != 0:
        raise RuntimeError(f"gguf inspect failed ({p.returncode}): {p.stderr.decode()}")
    return json.loads(p.stdout)


def _scalar_eq(vtype, ours, ref):
    """Compare one scalar of GGUF type vtype: ours from JSON, ref from gguf-py."""
    if vtype == GGUFValueType.FLOAT32:
        if isinstance(ours, str):  # "nan", "inf", "-inf"
            ours = float(ours)
        a = np.float32(ours)
        b = np.float32(ref)
        return a.tobytes() == b.tobytes() or (np.isnan(a) and np.isnan(b))
    if vtype == GGUFValueType.FLOAT64:
        if isinstance(ours, str):
            ours = float(ours)
        return float(ours) == float(ref) or (np.isnan(ours) and np.isnan(ref))
    if vtype == GGUFValueType.BOOL:
        return ours is bool(ref)
    if vtype == GGUFValueType.STRING:
        return ours == ref
    return isinstance(ours, int) and ours == int(ref)


def _flatten(ours_value, element_type):
    """Our nested JSON array -> (flat leaf values, leaf type) like gguf-py's contents()."""
    if element_type != "array":
        return list(ours_value), element_type
    flat, leaf = [], None
    for item in ours_value:
        sub, leaf = _flatten(item["value"], item["element_type"])
        flat += sub
    return flat, leaf


def compare_metadata(c, path, ours, reader):
    """Every KV: same keys in the same order, same offsets, types and values."""
    ref_fields = [(k, f) for k, f in reader.fields.items() if not k.startswith("GGUF.")]
    c.check([m["key"] for m in ours["metadata"]] == [k for k, _ in ref_fields],
            f"{path}: same metadata keys in the same order ({len(ref_fields)})")
    bad = []
    by_key = {m["key"]: m for m in ours["metadata"]}
    for key, f in ref_fields:
        m = by_key.get(key)
        if m is None:
            bad.append(f"{key}: missing")
            continue
        main = f.types[0]
        if m["type"] != main.name.lower():
            bad.append(f"{key}: type {m['type']} != {main.name.lower()}")
            continue
        if m["offset"] != f.offset:
            bad.append(f"{key}: offset {m['offset']} != {f.offset}")
        if main == GGUFValueType.ARRAY:
            if m["element_type"] != f.types[1].name.lower():
                bad.append(f"{key}: element type {m['element_type']} != {f.types[1].name}")
                continue
            flat, leaf = _flatten(m["value"], m["element_type"])
            ref = f.contents()
            leaf_type = f.types[-1]
            if leaf is not None and leaf != leaf_type.name.lower():
                bad.append(f"{key}: leaf type {leaf} != {leaf_type.name.lower()}")
            elif len(flat) != len(ref):
                bad.append(f"{key}: {len(flat)} elements != {len(ref)}")
            elif not all(_scalar_eq(leaf_type, a, b) for a, b in zip(flat, ref)):
                i = next(i for i, (a, b) in enumerate(zip(flat, ref))
                         if not _scalar_eq(leaf_type, a, b))
                bad.append(f"{key}: element {i}: {flat[i]!r} != {ref[i]!r}")
            if m["element_type"] != "array" and m["count"] != len(f.data):
                bad.append(f"{key}: count {m['count']} != {len(f.data)}")
        elif not _scalar_eq(main, m["value"], f.contents()):
            bad.append(f"{key}: {m['value']!r} != {f.contents()!r}")
    c.check(not bad, f"{path}: every key has gguf-py's type, offset and value", "; ".join(bad[:5]))


def compare_tensors(c, path, ours, reader):
    """Every tensor: same name, type, shape, element count, size and offsets."""
    c.check(ours["version"] in (2, 3), f"{path}: version {ours['version']}")
    c.check(ours["alignment"] == reader.alignment, f"{path}: alignment {reader.alignment}")
    c.check(ours["data_offset"] == reader.data_offset, f"{path}: data offset {reader.data_offset}")
    ts = ours["tensors"]
    c.check([t["name"] for t in ts] == [t.name for t in reader.tensors],
            f"{path}: same tensor names in the same order ({len(reader.tensors)})")
    bad = []
    for o, r in zip(ts, reader.tensors):
        want = {
            "type": r.tensor_type.name.lower(),
            "type_id": int(r.tensor_type),
            "shape": [int(d) for d in r.shape],
            "n_elements": int(r.n_elements),
            "bytes": int(r.n_bytes),
            "file_offset": int(r.data_offset),
            "offset": int(r.data_offset) - reader.data_offset,
        }
        got = {k: (o[k].lower() if k == "type" else o[k]) for k in want}
        if got != want:
            bad.append(f"{r.name}: {got} != {want}")
    c.check(not bad, f"{path}: every tensor has gguf-py's type, shape, size and offsets",
            "; ".join(bad[:3]))


def compare_dequant(c, path, reader, names=None, label=None):
    """Our dequantized float32 of every supported tensor == gguf.quants.dequantize, bit for bit.

    All tensors go through one `dump-tensor --raw` process, read from its pipe one
    tensor at a time. Returns the set of types compared.
    """
    label = label or path
    tensors = [t for t in reader.tensors
               if t.tensor_type in DEQUANT_TYPES and (names is None or t.name in names)]
    if not tensors:
        return set()
    proc = subprocess.Popen([MB, "gguf", "dump-tensor", "--raw", path] + [t.name for t in tensors],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    types, bad = set(), []
    try:
        for t in tensors:
            n = int(t.n_elements)
            raw = proc.stdout.read(4 * n)
            if len(raw) != 4 * n:
                bad.append(f"{t.name}: got {len(raw)} bytes of {4 * n}")
                break
            ours = np.frombuffer(raw, dtype="<u4")
            ref = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            ref = np.ascontiguousarray(ref).reshape(-1).view(np.uint32)
            if ours.shape != ref.shape or not np.array_equal(ours, ref):
                diff = np.nonzero(ours != ref)[0] if ours.shape == ref.shape else [0]
                i = int(diff[0])
                bad.append(f"{t.name} ({t.tensor_type.name}): {len(diff)} values differ, "
                           f"first at {i}: {ours[i]:#010x} != {ref[i]:#010x}")
            types.add(t.tensor_type)
        rest = proc.stdout.read()
        if rest:
            bad.append(f"{len(rest)} unexpected trailing bytes")
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        rc = proc.wait()
    c.check(rc == 0, f"{label}: dump-tensor --raw exits 0", err.strip())
    names_t = ", ".join(sorted(t.name for t in types))
    c.check(not bad, f"{label}: {len(tensors)} tensors dequantize bit-identically to gguf-py "
                     f"({names_t})", "; ".join(bad[:3]))
    return types


def compare_file(c, path, dequant=True):
    """All of the above for one file; returns the reader."""
    label = os.path.basename(path)
    reader = GGUFReader(path)
    ours = inspect_json(path)
    compare_metadata(c, label, ours, reader)
    compare_tensors(c, label, ours, reader)
    if dequant:
        compare_dequant(c, path, reader, label=label)
    return reader
