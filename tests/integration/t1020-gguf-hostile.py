#!/usr/bin/env python3
"""t1020-gguf-hostile.py - malformed and hostile GGUF files through the CLI.

Every case must give exactly one line on stderr, "error: FILE: ..." naming
the field and its byte offset (or the data range past the end), a non-zero
exit status (3 for malformed input, 10 for an unsupported version), nothing
on stdout, and no crash or sanitizer report. Cases: a gguf-py-written file
truncated at every section boundary, a tiny file truncated at every byte,
absurd tensor/KV/array counts, string lengths past the end, unknown value and
tensor types, bools that are not 0/1, arrays nested too deep, duplicate keys
and tensor names, n_dims 0 and 5, zero and overflowing dimensions, rows that
are not whole blocks, misaligned, overlapping and out-of-file tensor data,
bad general.alignment values and types, wrong magic, unsupported versions.
With an allocation-fault build (MB_DEBUG_ALLOC), every allocation of
`gguf inspect` is also made to fail in turn.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_ref  # noqa: E402
from gguf_ref import gguf  # noqa: E402

c = gguf_ref.Checker()
tmp = tempfile.mkdtemp(prefix="mbhostile.")

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SIZES = {U8: 1, I8: 1, U16: 2, I16: 2, U32: 4, I32: 4, F32: 4, BOOL: 1, U64: 8, I64: 8, F64: 8}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def header(n_tensors, n_kv, version=3, magic=b"GGUF"):
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload


def tinfo(name, dims, ttype, offset):
    return gstr(name) + struct.pack("<I", len(dims)) + b"".join(
        struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ttype, offset)


def pad(b, a=32):
    return b + b"\0" * (-len(b) % a)


def run_bad(desc, data, want_rc=3, needles=(), args=("gguf", "inspect")):
    path = os.path.join(tmp, "bad.gguf")
    with open(path, "wb") as f:
        f.write(data)
    p = gguf_ref.run_mb(*args, path, timeout=60)
    err = p.stderr.decode(errors="replace")
    lines = err.splitlines()
    problems = []
    if p.returncode != want_rc:
        problems.append(f"exit {p.returncode}, wanted {want_rc}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    elif not lines[0].startswith(f"error: {path}: "):
        problems.append("not 'error: FILE: ...'")
    if p.stdout:
        problems.append("output on stdout")
    if "Sanitizer" in err or "runtime error" in err:
        problems.append("sanitizer report")
    for n in needles:
        if n not in err:
            problems.append(f"no '{n}'")
    c.check(not problems, desc, "; ".join(problems) + " | " + err.strip()[:300])


# ---------------------------------------------------------------- truncation


def field_boundaries(b):
    """Start offsets of every field of a GGUF file, and the end of the last tensor."""
    offs = [0, 4, 8, 16, 24]
    pos = 24
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)

    def value(vtype, pos):
        offs.append(pos)
        if vtype in SIZES:
            return pos + SIZES[vtype]
        if vtype == STR:
            offs.append(pos + 8)
            return pos + 8 + struct.unpack_from("<Q", b, pos)[0]
        et, n = struct.unpack_from("<IQ", b, pos)
        offs.append(pos + 4)
        pos += 12
        for _ in range(n):
            pos = value(et, pos)
        return pos

    for _ in range(n_kv):
        offs += [pos, pos + 8]
        pos += 8 + struct.unpack_from("<Q", b, pos)[0]
        offs.append(pos)
        vtype = struct.unpack_from("<I", b, pos)[0]
        pos = value(vtype, pos + 4)
    ends = []
    for _ in range(n_t):
        offs += [pos, pos + 8]
        pos += 8 + struct.unpack_from("<Q", b, pos)[0]
        offs.append(pos)
        nd = struct.unpack_from("<I", b, pos)[0]
        pos += 4
        for _ in range(nd):
            offs.append(pos)
            pos += 8
        offs += [pos, pos + 4]
        pos += 12
    offs.append(pos)
    return offs, pos


src = os.path.join(tmp, "src.gguf")
w = gguf.GGUFWriter(src, "llama")
w.add_uint32("llama.block_count", 2)
w.add_float32("llama.rope.freq_base", 10000.0)
w.add_bool("tokenizer.ggml.add_bos_token", True)
w.add_array("tokenizer.ggml.tokens", ["<unk>", "a", "bc"])
w.add_array("t.nested", [[1, 2], [3]])
w.add_tensor("token_embd.weight", np.ones((3, 32), dtype=np.float32))
q = gguf.quants.quantize(np.ones((2, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q4_0)
w.add_tensor("blk.0.attn_q.weight", q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q4_0)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
with open(src, "rb") as f:
    full = f.read()
reader = gguf_ref.GGUFReader(src)
offs, _ = field_boundaries(full)
data_end = max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
offs += [reader.data_offset] + [int(t.data_offset) for t in reader.tensors]
offs += [int(t.data_offset) + 1 for t in reader.tensors] + [data_end - 1]
bounds = sorted({o for o in offs if 0 <= o < data_end} | {o + 1 for o in offs if o + 1 < data_end})
bad = []
for n in bounds:
    path = os.path.join(tmp, "cut.gguf")
    with open(path, "wb") as f:
        f.write(full[:n])
    p = gguf_ref.run_mb("gguf", "inspect", path, timeout=60)
    err = p.stderr.decode(errors="replace")
    if (p.returncode != 3 or len(err.splitlines()) != 1 or p.stdout or "Sanitizer" in err
            or not any(k in err for k in ("offset", "past the end", "bytes long"))):
        bad.append(f"{n}: exit {p.returncode}: {err.strip()[:200]}")
c.check(not bad and len(bounds) > 60,
        f"truncated at each of {len(bounds)} section boundaries: one-line errors", "; ".join(bad[:3]))
c.check(gguf_ref.run_mb("gguf", "inspect", src).returncode == 0, "the untruncated file is fine")

tiny = pad(header(1, 1) + kv("a", U8, b"\x07") + tinfo("t", [4], 0, 0)) + b"\x01" * 16
bad = []
for n in range(len(tiny)):
    path = os.path.join(tmp, "tiny.gguf")
    with open(path, "wb") as f:
        f.write(tiny[:n])
    p = gguf_ref.run_mb("gguf", "inspect", path, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 3 or len(err.splitlines()) != 1 or "Sanitizer" in err:
        bad.append(f"{n}: exit {p.returncode}: {err.strip()[:200]}")
c.check(not bad, f"a {len(tiny)}-byte file truncated at every byte", "; ".join(bad[:3]))

# ---------------------------------------------------------------- header

run_bad("empty file", b"", needles=["not a GGUF file: only 0 bytes long"])
run_bad("wrong magic", b"GGML" + tiny[4:], needles=["magic at offset 0 is 'GGML'"])
run_bad("version 1", header(0, 0, version=1), 10, ["version at offset 4", "not supported"])
run_bad("version 4", header(0, 0, version=4), 10, ["GGUF version 4 is not supported"])
run_bad("big-endian file", b"GGUF" + struct.pack(">IQQ", 3, 0, 0), 10, ["big-endian"])
run_bad("absurd kv count", header(0, 2**64 - 1), needles=["kv_count at offset 16", "cannot fit"])
run_bad("absurd tensor count", header(2**40, 0) + b"\0" * 64, needles=["tensor_count at offset 8"])

# ---------------------------------------------------------------- metadata

run_bad("key length past the end", header(0, 1) + struct.pack("<Q", 1000) + b"k" * 20,
        needles=["kv 0: key length at offset 24", "past the end"])
run_bad("empty key", header(0, 1) + kv("", U32, b"\1\0\0\0"), needles=["key at offset 24", "empty"])
run_bad("string length past the end", header(0, 1) + kv("k", STR, struct.pack("<Q", 2**63) + b"ab"),
        needles=["kv 0 'k': value length at offset 37"])
run_bad("string array element past the end",
        header(0, 1) + kv("tok", ARR, struct.pack("<IQ", STR, 2) + gstr("a") + struct.pack("<Q", 99)),
        needles=["'tok': array element 1 length at offset 60", "past the end"])
run_bad("absurd array count", header(0, 1) + kv("k", ARR, struct.pack("<IQ", U64, 2**62)),
        needles=["array length at offset 41", "cannot fit"])
run_bad("absurd nested array count", header(0, 1) + kv("k", ARR, struct.pack("<IQ", ARR, 2**60)),
        needles=["array length at offset 41"])
run_bad("unknown value type", header(0, 1) + kv("k", 13, b"\0" * 8),
        needles=["value type at offset 33", "unknown value type 13"])
run_bad("unknown array element type", header(0, 1) + kv("k", ARR, struct.pack("<IQ", 99, 1)),
        needles=["array element type at offset 37", "unknown value type 99"])
run_bad("bool that is 2", header(0, 1) + kv("k", BOOL, b"\2"), needles=["bool is 2"])
run_bad("bool array element that is 7",
        header(0, 1) + kv("k", ARR, struct.pack("<IQ", BOOL, 2) + b"\1\7"), needles=["bool 1 is 7"])
deep = b"".join(struct.pack("<IQ", ARR, 1) for _ in range(12)) + struct.pack("<IQ", U8, 0)
run_bad("arrays nested 13 deep", header(0, 1) + kv("k", ARR, deep), needles=["nested more than 8 deep"])
run_bad("duplicate key", header(0, 2) + kv("k", U8, b"\1") + kv("k", U8, b"\2"),
        needles=["kv 1 'k': key at offset 38", "duplicate key (first defined at offset 24)"])
run_bad("alignment 0", header(0, 1) + kv("general.alignment", U32, struct.pack("<I", 0)),
        needles=["'general.alignment' at offset 24", "not a power of two"])
run_bad("alignment 3", header(0, 1) + kv("general.alignment", U32, struct.pack("<I", 3)),
        needles=["not a power of two"])
run_bad("alignment of type uint64", header(0, 1) + kv("general.alignment", U64, struct.pack("<Q", 32)),
        needles=["must be uint32, not uint64"])

# ---------------------------------------------------------------- tensors


def one_tensor(dims, ttype=0, offset=0, name="w", data=64):
    return pad(header(1, 0) + tinfo(name, dims, ttype, offset)) + b"\0" * data


run_bad("n_dims 0", one_tensor([]), needles=["tensor 0 'w': n_dims at offset 33", "must be 1 to 4"])
run_bad("n_dims 5", one_tensor([1, 1, 1, 1, 1]), needles=["n_dims at offset 33"])
run_bad("zero dimension", one_tensor([4, 0]), needles=["dims[1] at offset 45", "a dimension of 0"])
run_bad("dimensions whose product overflows", one_tensor([2**32, 2**32]),
        needles=["dims[1] at offset 45", "overflow"])
run_bad("byte size that overflows", one_tensor([2**31, 2**31]), needles=["the data size overflows"])
run_bad("unknown tensor type", one_tensor([4], ttype=99), needles=["type at offset 45", "unknown tensor type 99"])
run_bad("row not a whole number of blocks", one_tensor([48], ttype=2),
        needles=["dims[0] = 48 is not a multiple of the q4_0 block length 32"])
run_bad("misaligned tensor offset", one_tensor([4], offset=8),
        needles=["offset at offset 49", "8 is not a multiple of the alignment 32"])
run_bad("tensor data past the end", one_tensor([4], data=15),
        needles=["tensor 0 'w': data ends at 80, past the end of the file (79)"])
run_bad("huge tensor offset", one_tensor([4], offset=2**63), needles=["past the end of the file"])
run_bad("offset + size overflows", one_tensor([4], offset=2**64 - 32), needles=["overflows"])
run_bad("tensor name longer than 64 bytes", one_tensor([4], name="n" * 65),
        needles=["65 bytes long (the limit is 64)"])
two = pad(header(2, 0) + tinfo("a", [16], 0, 0) + tinfo("b", [4], 0, 32)) + b"\0" * 128
run_bad("overlapping tensors", two, needles=["tensor 1 'b': data at offset", "overlaps tensor 0 'a'"])
dup = pad(header(2, 0) + tinfo("a", [4], 0, 0) + tinfo("a", [4], 0, 32)) + b"\0" * 64
run_bad("duplicate tensor names", dup, needles=["tensor 1 'a': name at offset 57", "duplicate tensor name"])

# The other commands refuse the same files the same way.
p = gguf_ref.run_mb("gguf", "copy", os.path.join(tmp, "bad.gguf"), os.path.join(tmp, "out.gguf"))
c.check(p.returncode == 3 and not os.path.exists(os.path.join(tmp, "out.gguf")),
        "gguf copy of a hostile file fails and writes nothing")
p = gguf_ref.run_mb("gguf", "dump-tensor", os.path.join(tmp, "bad.gguf"), "a")
c.check(p.returncode == 3 and len(p.stderr.splitlines()) == 1, "gguf dump-tensor refuses it too")
p = gguf_ref.run_mb("gguf", "inspect", os.path.join(tmp, "missing.gguf"))
c.check(p.returncode == 4 and b"cannot open" in p.stderr, "a missing file: exit 4")
p = gguf_ref.run_mb("gguf", "inspect", tmp)
c.check(p.returncode == 9 and b"not a regular file" in p.stderr, "a directory: exit 9")
p = gguf_ref.run_mb("gguf", "inspect")
c.check(p.returncode == 2 and b"takes one FILE" in p.stderr, "no FILE: usage error, exit 2")

# ---------------------------------------------------------------- allocation failures

env = dict(os.environ, MB_ALLOC_FAIL_AT="1")
probe = subprocess.run([gguf_ref.MB, "gguf", "inspect", "--json", src], env=env, capture_output=True)
if probe.returncode == 0:
    print("# allocation fault injection is not compiled in (MB_DEBUG_ALLOC=OFF): not walked")
else:
    bad, n = [], 1
    while n < 200:
        env["MB_ALLOC_FAIL_AT"] = str(n)
        p = subprocess.run([gguf_ref.MB, "gguf", "inspect", "--json", src], env=env,
                           capture_output=True)
        if p.returncode == 0:
            break
        err = p.stderr.decode(errors="replace")
        if p.returncode != 10 or len(err.splitlines()) != 1 or "out of memory" not in err:
            bad.append(f"allocation {n}: exit {p.returncode}: {err.strip()[:200]}")
        n += 1
    c.check(not bad and 1 < n < 200,
            f"each of the {n - 1} allocations of 'gguf inspect' failing gives one clean error",
            "; ".join(bad[:3]))

shutil.rmtree(tmp)
c.finish()
