#!/usr/bin/env python3
"""t4030-pack-hostile.py - hostile .mbpack archives built here with Python's
tarfile piped through the zstd CLI (an independent tar writer), checked with
`modularbase pack verify`: absolute path, ../ escape, symlink then a file
through it, hard link, device node, FIFO, setuid file, over-long name,
duplicate entry, unlisted member, hash mismatch, and a bomb whose manifest
declares 1 MB while the member expands to 1 GB (stream-generated, never
stored). Each must be refused with exit status 3 (5 for the hash) and a
message naming the member. A well-formed archive from the same writer passes,
so the refusals are about the members, not the writer. Extraction of the same
cases is covered by tests/unit/registry/test_archive.c.
"""
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

MB = os.environ["MB_BIN"]
passed = failed = 0


def report(ok, desc, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {desc}")
    else:
        failed += 1
        print(f"not ok - {desc} {detail}")


class Zeros(io.RawIOBase):
    """A file object yielding n zero bytes, for the bomb."""

    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def manifest(entries):
    """entries: [(path, data-bytes or (size, sha-hex))] -> MANIFEST.sha256 text."""
    lines = []
    for path, d in sorted(entries):
        if isinstance(d, bytes):
            lines.append(f"{hashlib.sha256(d).hexdigest()}  {len(d)}  {path}\n")
        else:
            lines.append(f"{d[1]}  {d[0]}  {path}\n")
    return "".join(lines).encode()


def build(path, man, members):
    """members: list of (TarInfo, fileobj or None); MANIFEST.sha256 first."""
    with open(path, "wb") as out:
        z = subprocess.Popen(["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE, stdout=out)
        with tarfile.open(fileobj=z.stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
            ti = tarfile.TarInfo("MANIFEST.sha256")
            ti.size = len(man)
            t.addfile(ti, io.BytesIO(man))
            for ti, f in members:
                t.addfile(ti, f)
        z.stdin.close()
        assert z.wait() == 0


def reg(name, data, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    return ti, io.BytesIO(data)


def special(name, kind, target=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    if kind == tarfile.CHRTYPE:
        ti.devmajor, ti.devminor = 1, 3
    return ti, None


def verify(path):
    p = subprocess.run([MB, "pack", "verify", path], capture_output=True, text=True)
    return p.returncode, p.stderr


def expect(desc, path, code, needle):
    rc, err = verify(path)
    report(rc == code and needle in err, desc, f"(exit {rc}, stderr {err.strip()!r})")


def main():
    if shutil.which("zstd") is None:
        print("skipped: zstd CLI missing")
        return 77
    tmp = tempfile.mkdtemp(prefix="mbhostile.")
    try:
        X = b"x"
        p = lambda n: os.path.join(tmp, n + ".mbpack")

        build(p("good"), manifest([("a.txt", X), ("weights/w.bin", b"yy")]),
              [reg("a.txt", X), reg("weights/w.bin", b"yy")])
        rc, err = verify(p("good"))
        report(rc == 0, "a well-formed archive from tarfile+zstd verifies", err)

        build(p("abs"), manifest([("a", X)]), [reg("/etc/mb-evil", X)])
        expect("absolute path", p("abs"), 3, "member '/etc/mb-evil': absolute paths")

        build(p("dotdot"), manifest([("a", X)]), [reg("../../escape", X)])
        expect("../ escape", p("dotdot"), 3, "member '../../escape'")

        build(p("symlink"), manifest([("l/evil", X)]),
              [special("l", tarfile.SYMTYPE, "/tmp"), reg("l/evil", X)])
        expect("symlink then a file through it", p("symlink"), 3, "member 'l': symbolic links")

        build(p("hardlink"), manifest([("a", X), ("b", X)]),
              [reg("a", X), special("b", tarfile.LNKTYPE, "/etc/passwd")])
        expect("hard link", p("hardlink"), 3, "member 'b': hard links")

        build(p("device"), manifest([("a", X)]), [special("a", tarfile.CHRTYPE)])
        expect("device node", p("device"), 3, "member 'a': device files")

        build(p("fifo"), manifest([("a", X)]), [special("a", tarfile.FIFOTYPE)])
        expect("FIFO", p("fifo"), 3, "member 'a': FIFOs")

        build(p("setuid"), manifest([("a", X)]), [reg("a", X, 0o4755)])
        expect("setuid file", p("setuid"), 3, "member 'a': setuid")

        long = "d/" + "n" * 400
        build(p("long"), manifest([("a", X)]), [reg(long, X)])
        expect("over-long name", p("long"), 3, "over the limit of 255")

        build(p("dup"), manifest([("a", X)]), [reg("a", X), reg("a", X)])
        expect("duplicate entry", p("dup"), 3, "member 'a' appears twice")

        build(p("unlisted"), manifest([("a", X)]), [reg("a", X), reg("run.sh", b"rm -rf /")])
        expect("unlisted member", p("unlisted"), 3, "member 'run.sh' is not listed")

        build(p("hash"), manifest([("a", X)]), [reg("a", b"y")])
        expect("hash mismatch", p("hash"), 5, "member 'a': sha256")

        mb1 = 1 << 20
        bomb = tarfile.TarInfo("weights/bomb.bin")
        bomb.size = 1 << 30
        zero_sha = hashlib.sha256(bytes(mb1)).hexdigest()
        build(p("bomb"), manifest([("weights/bomb.bin", (mb1, zero_sha))]),
              [(bomb, Zeros(1 << 30))])
        size = os.path.getsize(p("bomb"))
        report(size < 1 << 20, f"the bomb is small on disk ({size} bytes)")
        expect("bomb: declared 1 MB, expands to 1 GB", p("bomb"), 3,
               "member 'weights/bomb.bin' is 1073741824 bytes but MANIFEST.sha256 declares "
               "1048576 (zip-bomb guard)")
    finally:
        shutil.rmtree(tmp)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
