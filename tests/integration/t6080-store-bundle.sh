# t6080-store-bundle.sh - offline transfer: pack export writes a tar with the
# packs, their dependencies and the base (or only the named ones with
# --no-deps), with archives byte-identical to the originals even when they are
# rebuilt from the installed files; pack install BUNDLE --offline on another
# store gives identical files; a modified installation is refused at export;
# a tampered or malformed bundle is refused at install with nothing changed.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"

B1=$(mkpack pk base 1.0.0 --kind base)
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --dep "anatomy@^1" --mb 1)
export MODULARBASE_HOME="$T/a"
check "install on machine A" "$MB" pack install -y "$B1" "$A1" "$M1"

check_exit 2 "export without -o" "$MB" pack export medical
check_exit 4 "export an unknown pack" "$MB" pack export nosuch -o x.tar
check_exit 1 "no partial bundle left" test -e x.tar

check "export medical (originals at hand)" "$MB" pack export medical -o b1.tar --json
cp "$T/out" e1.json
check "export --json" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["packs"]==3 and d["rebuilt"]==0, d' e1.json
check "the bundle is a tar with bundle.json first" "$PY" -c '
import tarfile,sys,json
t=tarfile.open(sys.argv[1]); names=t.getnames()
assert names[0]=="bundle.json", names
assert sorted(n for n in names if n.endswith(".mbpack"))==["packs/anatomy/anatomy-1.0.0.mbpack","packs/base/base-1.0.0.mbpack","packs/medical/medical-1.0.0.mbpack"], names
b=json.load(t.extractfile("bundle.json")); assert b["requested"]==["medical"] and len(b["packs"])==3' b1.tar

# Without the original files, archives are rebuilt: the same bytes.
mkdir moved && mv pk/*.mbpack moved/
check "export again: archives rebuilt" "$MB" pack export medical -o b2.tar --json
cp "$T/out" e2.json
check "all three rebuilt" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["rebuilt"]==3, d' e2.json
check "rebuilt archives are byte-identical to the originals" "$PY" -c '
import tarfile,sys,hashlib,os
t=tarfile.open(sys.argv[1])
for m in t.getmembers():
    if m.name.endswith(".mbpack"):
        a=hashlib.sha256(t.extractfile(m).read()).hexdigest()
        b=hashlib.sha256(open(os.path.join(sys.argv[2],os.path.basename(m.name)),"rb").read()).hexdigest()
        assert a==b, m.name' b2.tar moved
mkdir x && tar -xf b2.tar -C x
check "a bundled archive verifies" "$MB" pack verify x/packs/medical/medical-1.0.0.mbpack

check "export --no-deps" "$MB" pack export --no-deps medical -o nodeps.tar
check_grep "one pack" "1 pack," "$T/out"

# Machine B has no network and no registry.
export MODULARBASE_HOME="$T/b"
check "install the bundle offline" "$MB" pack install --offline -y b2.tar
check_grep "installed medical" "^installed +medical 1.0.0" "$T/out"
check "list on B" "$MB" pack list --json
cp "$T/out" lb.json
check "medical explicit, the rest automatic, source bundle" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert [(p["id"],p["automatic"],p["source"]) for p in d]==[("anatomy",True,"bundle"),("base",True,"bundle"),("medical",False,"bundle")], d' lb.json
store_snapshot "$T/a" | sed -n '/^--- files/,$p' >fa.txt
store_snapshot "$T/b" | sed -n '/^--- files/,$p' >fb.txt
check "identical installed files on A and B" cmp fa.txt fb.txt
check_converged "B consistent" "$T/b"
check "installing the bundle again: nothing to do" "$MB" pack install -y b2.tar
check_grep "nothing to do" "Nothing to do" "$T/out"

# A bundle without the dependencies cannot install on an empty machine.
export MODULARBASE_HOME="$T/c"
check_exit 7 "a --no-deps bundle alone: no solution" "$MB" pack install -y nodeps.tar
check_grep "the explanation names what is missing" "anatomy|no base pack is available" "$T/err"

# Tampering: one flipped byte in a bundled archive.
"$PY" -c '
import tarfile,sys,io
src=tarfile.open(sys.argv[1]); dst=tarfile.open(sys.argv[2],"w",format=tarfile.PAX_FORMAT)
for m in src.getmembers():
    data=src.extractfile(m).read()
    if m.name.endswith("medical-1.0.0.mbpack"):
        data=bytearray(data); data[len(data)//2]^=1; data=bytes(data)
    dst.addfile(m, io.BytesIO(data))
dst.close()' b2.tar bad.tar
check_exit 5 "a tampered bundle is refused" "$MB" pack install -y bad.tar
check_grep "names the member and the hash" "medical-1.0.0.mbpack'.*sha256.*does not match" "$T/err"
check "nothing installed" "$MB" pack list --json
check_eq "empty" "$(tr -d ' \n' <"$T/out")" '{"packs":[]}'
check_converged "consistent after the refusal" "$T/c"

# A malformed bundle: bundle.json not first.
mkdir junk && echo '{}' >junk/a.json && tar -cf junk.tar -C junk a.json
check_exit 3 "a tar that is not a bundle" "$MB" pack install -y junk.tar
check_grep "says what is wrong" "not a modularbase bundle" "$T/err"

# Export refuses a modified installation.
export MODULARBASE_HOME="$T/a"
echo "changed" >>"$T/a/packs/anatomy/1.0.0/README.md"
check_exit 5 "export of a modified pack is refused" "$MB" pack export medical -o b3.tar
check_grep "names the modified file" "'README.md' was modified" "$T/err"
check_exit 1 "no bundle written" test -e b3.tar
finish
