# t6010-store-install-local.sh - installing real .mbpack files: the plan shows
# what is added and the sizes, --dry-run changes nothing, dependencies and the
# base are resolved among the given files, state.json, world and packs/ agree,
# pack list / info / verify read the result, a second install has nothing to
# do, a newer file upgrades and an older one downgrades (replaced versions are
# removed).
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"
H=$MODULARBASE_HOME

B1=$(mkpack pk base 1.0.0 --kind base)
R1=$(mkpack pk router 1.0.0 --kind router --compat "^1")
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --dep "anatomy@^1" --mb 0.2)
M2=$(mkpack pk medical 1.1.0 --compat "^1" --dep "anatomy@^1" --mb 0.2 --seed 2)

check_exit 2 "install without a SPEC is a usage error" "$MB" pack install
check "list on a fresh store" "$MB" pack list
check_grep "says nothing is installed" "No packs installed" "$T/out"
check "list --json on a fresh store" "$MB" pack list --json
check_eq "empty JSON list" "$(tr -d ' \n' <"$T/out")" '{"packs":[]}'

# --- dry run
check "install --dry-run" "$MB" pack install --dry-run "$B1" "$A1" "$M1"
check_grep "plan lists installs" "The following packs will be installed" "$T/out"
check_grep "plan shows the disk change" "Disk: \+[0-9.]+ KiB" "$T/out"
check_grep "says nothing changed" "Dry run: nothing was changed" "$T/out"
check_exit 1 "dry run wrote no state.json" test -e "$H/state.json"
check_exit 1 "dry run wrote no world" test -e "$H/world"

# --- a missing dependency is explained
check_exit 7 "medical without anatomy: no solution" "$MB" pack install "$B1" "$M1"
check_grep "explains the missing dependency" "anatomy" "$T/err"

# --- install with a dependency and a base
check "install base, anatomy, medical" "$MB" pack install "$B1" "$A1" "$M1"
check_grep "prints what was installed" "^installed +medical 1.0.0" "$T/out"
check "state.json is valid JSON with 3 packs" "$PY" -c '
import json,sys; s=json.load(open(sys.argv[1])); assert [p["id"] for p in s["packs"]]==["anatomy","base","medical"], s
m=[p for p in s["packs"] if p["id"]=="medical"][0]
assert m["source"]=="file" and m["origin"].endswith("medical-1.0.0.mbpack") and len(m["archive_sha256"])==64
assert {f["path"] for f in m["files"]}=={"README.md","pack.yaml","weights/medical.gguf"}, m["files"]
assert m["size"]==sum(f["size"] for f in m["files"])' "$H/state.json"
check "archive_sha256 is the file's sha256" "$PY" -c '
import hashlib,json,sys; s=json.load(open(sys.argv[1]))
m=[p for p in s["packs"] if p["id"]=="medical"][0]
assert m["archive_sha256"]==hashlib.sha256(open(sys.argv[2],"rb").read()).hexdigest()' "$H/state.json" "$M1"
check_grep "world lists medical" "^medical$" "$H/world"
check "installed files match sha256sum" sh -c "cd '$H/packs/medical/1.0.0' && awk '{print \$1\"  \"\$3}' MANIFEST.sha256 | sha256sum -c --quiet"
check_converged "store consistent after install" "$H"

check "pack list" "$MB" pack list
check_grep "list shows medical" "^medical +1.0.0 +data .* explicit +no" "$T/out"
check_grep "list shows the base as resident" "^base +1.0.0 +base .* yes" "$T/out"
check "pack list --json" "$MB" pack list --json
cp "$T/out" list.json
check "list --json fields" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert [(p["id"],p["version"],p["kind"],p["automatic"],p["resident"]) for p in d]==[("anatomy","1.0.0","data",False,False),("base","1.0.0","base",False,True),("medical","1.0.0","data",False,False)], d' list.json
check "pack info anatomy" "$MB" pack info anatomy
check_grep "info names the reverse dependency" "required by: medical" "$T/out"
check "pack info --json medical" "$MB" pack info --json medical
cp "$T/out" info.json
check "info --json" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["dependencies"]==[{"id":"anatomy","version":"^1"}] and d["weights"]=="weights/medical.gguf" and len(d["files"])==3' info.json
check_exit 4 "pack info of an unknown pack" "$MB" pack info nosuch
check_exit 2 "pack info of a bad id" "$MB" pack info Bad/Id

# --- idempotent
check "installing again" "$MB" pack install "$M1"
check_grep "nothing to do" "Nothing to do" "$T/out"

# --- upgrade by installing a newer file; downgrade with an older one
store_snapshot "$H" >before.txt
check "install medical 1.1.0" "$MB" pack install "$M2" --json
cp "$T/out" up.json
check "the JSON plan says upgrade" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); m=[p for p in d["packs"] if p["id"]=="medical"][0]
assert d["applied"] and m["action"]=="upgrade" and m["from"]=="1.0.0" and m["version"]=="1.1.0", d' up.json
check_exit 1 "1.0.0 directory removed" test -e "$H/packs/medical/1.0.0"
check "1.1.0 directory present" test -d "$H/packs/medical/1.1.0"
check_converged "store consistent after upgrade" "$H"
check "install medical 1.0.0 again (downgrade)" "$MB" pack install "$M1" -y
check_grep "prints the downgrade" "^downgraded +medical 1.1.0 -> 1.0.0" "$T/out"
store_snapshot "$H" >after.txt
check "same files as before the upgrade" cmp before.txt after.txt

finish
