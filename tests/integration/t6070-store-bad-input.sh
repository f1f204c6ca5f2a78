# t6070-store-bad-input.sh - bad input gets one clear line, the documented
# exit status, and nothing changes: unknown packs, malformed requests, a range
# nothing satisfies (with the resolver's explanation), missing, truncated,
# corrupt and hostile archives, a corrupt state.json (clear error, then
# `pack verify --repair` rebuilds it from packs/), a corrupt world file, and a
# read-only store (writers refuse, readers still work).
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"
H=$MODULARBASE_HOME
B1=$(mkpack pk base 1.0.0 --kind base)
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --dep "anatomy@^1" --mb 1)
check "install a starting state" "$MB" pack install -y "$B1" "$A1" "$M1"
store_snapshot "$H" >before.txt
unchanged() {
    store_snapshot "$H" >now.txt
    if cmp -s before.txt now.txt; then ok "$1: nothing changed"; else
        not_ok "$1: the state changed"
        diff before.txt now.txt | head
    fi
    check_converged "$1: no leftovers" "$H"
}

check_exit 4 "an unknown pack" "$MB" pack install -y nosuch
check_grep "names it" "unknown pack 'nosuch'" "$T/err"
unchanged "unknown pack"
check_exit 2 "a malformed id" "$MB" pack install -y 'Medical'
check_grep "says why" "not a valid pack id" "$T/err"
check_exit 2 "a malformed range" "$MB" pack install -y 'medical@^1.x.y'
check_exit 4 "a missing file" "$MB" pack install -y ./nosuch.mbpack
check_grep "names the file" "'./nosuch.mbpack' does not exist" "$T/err"
check_exit 2 "an ftp URL" "$MB" pack install -y ftp://example.org/x.mbpack

check_exit 7 "a range nothing satisfies" "$MB" pack install -y 'medical@^2'
check_grep "the explanation is printed" "medical" "$T/err"
check_grep "the one-line error" "^error: .*no .*satisf" "$T/err"
unchanged "unsatisfiable range"

# Archives: not an archive, truncated, a flipped byte, a tar without zstd.
head -c 5000 /dev/urandom >random.mbpack
check_exit 3 "random bytes" "$MB" pack install -y random.mbpack
check_grep "not a modularbase pack" "not a modularbase pack" "$T/err"
M2=$(mkpack pk medical 1.1.0 --compat "^1" --dep "anatomy@^1" --mb 1 --seed 5)
head -c $(($(stat -c %s "$M2") / 2)) "$M2" >trunc.mbpack
check_exit 3 "a truncated archive" "$MB" pack install -y trunc.mbpack
check_grep "says truncated or corrupt" "truncated or corrupt" "$T/err"
unchanged "truncated archive"
"$PY" - "$M2" flipped.mbpack <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) * 3 // 4] ^= 0x40
open(sys.argv[2], "wb").write(b)
PYEOF
"$MB" pack install -y flipped.mbpack >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 3 ] || [ $rc = 5 ] && ok "a flipped byte: exit $rc" || not_ok "a flipped byte: exit $rc"
check_grep "names the archive" "flipped.mbpack" "$T/err"
unchanged "corrupt archive"
# A hostile archive: a member path escaping the pack (built with Python's tarfile + zstd).
"$PY" - hostile.mbpack <<'PYEOF'
import hashlib, io, subprocess, sys, tarfile
data = b"escape\n"
man = f"{hashlib.sha256(data).hexdigest()}  {len(data)}  ../evil\n".encode()
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for name, d in (("MANIFEST.sha256", man), ("../evil", data)):
        ti = tarfile.TarInfo(name); ti.size = len(d); t.addfile(ti, io.BytesIO(d))
z = subprocess.run(["zstd", "-q", "-c"], input=buf.getvalue(), capture_output=True, check=True)
open(sys.argv[1], "wb").write(z.stdout)
PYEOF
check_exit 3 "an archive with a '..' member" "$MB" pack install -y hostile.mbpack
check_exit 1 "nothing escaped" test -e "$T/evil"
unchanged "hostile archive"

# --- a corrupt state.json
cp "$H/state.json" state.good
printf '{"format": 1, "packs": [{"id": "medical"' >"$H/state.json"
check_exit 1 "install with a corrupt state.json" "$MB" pack install -y "$M2"
check_grep "names the file and suggests --repair" "state.json.*pack verify --repair" "$T/err"
check_exit 1 "pack list with a corrupt state.json" "$MB" pack list
check_grep "list says the same" "damaged.*--repair" "$T/err"
check "pack verify --repair" "$MB" pack verify --repair
check_grep "repair says what it rebuilt" "rebuilt state.json from .*: 3 packs" "$T/out"
check "a backup of the damaged file is kept" test -f "$H/state.json.bak"
check "list after the repair" "$MB" pack list --json
cp "$T/out" l.json
check "same packs and install reasons after the repair" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert [(p["id"],p["version"],p["automatic"]) for p in d]==[("anatomy","1.0.0",False),("base","1.0.0",False),("medical","1.0.0",False)], d' l.json
check "the repaired state keeps the origin (from the receipts)" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert all(p["source"]=="file" and len(p["archive_sha256"])==64 for p in d), d' "$H/state.json"
check_converged "consistent after the repair" "$H"
# A lost state.json and world: everything found becomes explicit.
rm "$H/state.json" "$H/world"
check "pack list without state.json: empty" "$MB" pack list
check "repair without state.json and world" "$MB" pack verify --repair
check_grep "marked explicit" "all marked as explicitly installed" "$T/out"
check "a world is written" grep -q "^medical$" "$H/world"
# A leftover older version next to the installed one is removed by repair.
cp -a "$H/packs/medical/1.0.0" "$H/packs/medical/0.9.0"
sed -i 's/^version: 1.0.0/version: 0.9.0/' "$H/packs/medical/0.9.0/pack.yaml"
check "repair with an extra version directory" "$MB" pack verify --repair
check_grep "older copy removed" "removed packs/medical/0.9.0" "$T/out"
check_grep "the modified copy was not counted as valid" "ignored packs/medical/0.9.0|removed packs/medical/0.9.0" "$T/out"
check_converged "consistent" "$H"

# --- a corrupt world
cp "$H/world" world.good
printf 'medical\nmedical@^1\n' >"$H/world"
check_exit 1 "install with a corrupt world" "$MB" pack install -y "$M2"
check_grep "names the file and line" "world:2: 'medical' is listed twice" "$T/err"
cp world.good "$H/world"
store_snapshot "$H" >before.txt

# --- a read-only store (a read-only bind mount in a private mount namespace)
if unshare -rm true 2>/dev/null; then
    cat >ro.sh <<SHEOF
mount --bind "$H" "$H" && mount -o remount,ro,bind "$H" || exit 77
"$MB" pack install -y "$M2" >ro-install.out 2>ro-install.err; echo \$? >ro-install.rc
"$MB" pack list >ro-list.out 2>ro-list.err; echo \$? >ro-list.rc
"$MB" pack verify >ro-verify.out 2>ro-verify.err; echo \$? >ro-verify.rc
"$MB" cache clean >ro-clean.out 2>ro-clean.err; echo \$? >ro-clean.rc
SHEOF
    unshare -rm env MODULARBASE_HOME="$H" bash ro.sh
    if [ $? = 77 ]; then
        echo "# read-only bind mounts unavailable: skipped that part"
    else
        check_eq "read-only store: install exits 9" "$(cat ro-install.rc)" 9
        check_grep "says the store cannot be written" "cannot write to the store '$H'.*Read-only file system" ro-install.err
        check_eq "read-only store: list works" "$(cat ro-list.rc)" 0
        check_grep "list shows the packs" "^medical" ro-list.out
        check_eq "read-only store: verify works" "$(cat ro-verify.rc)" 0
        check_eq "read-only store: cache clean exits 9" "$(cat ro-clean.rc)" 9
        unchanged "read-only store"
    fi
else
    echo "# no mount namespaces: read-only store part skipped"
fi
finish
