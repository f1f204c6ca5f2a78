# t6020-store-registry-file.sh - the store against a real file:// registry
# (registry init/publish/refresh/add from the registry client, signed packs):
# install with dependencies and the base chosen by base_compatibility,
# download size in the plan, the cache (--offline, cache clean), --locked
# packs.lock, pack info with the available versions, upgrade after new
# versions are published (all, or one pack), remove with reverse-dependency
# refusal and autoremove, verify detecting a modified file and --reinstall
# fixing it from the registry.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"
H=$MODULARBASE_HOME
make_registry reg main
sp() { mkpack dist "$@" --key pub; }
B100=$(sp base 1.0.0 --kind base)
B103=$(sp base 1.0.3 --kind base --seed 2)
B200=$(sp base 2.0.0 --kind base --seed 3)
A10=$(sp anatomy 1.0.0 --compat "1.0")
A11=$(sp anatomy 1.1.0 --compat "1.0" --seed 4)
A20=$(sp anatomy 2.0.0 --compat "^2" --seed 5)
M10=$(sp medical 1.0.0 --compat "1.0" --dep "anatomy@^1" --mb 0.5)
L10=$(sp latin 1.0.0 --compat ">=1.0.0 <3")
publish_packs reg "$B100" "$B103" "$B200" "$A10" "$A11" "$A20" "$M10" "$L10"
check "registry add" "$MB" registry add main ./reg --key maint

# --- install: dependencies and the base from base_compatibility
check "install --dry-run medical" "$MB" pack install --dry-run medical
check_grep "the plan names the registry" "medical +1.0.0 .*from registry main" "$T/out"
check_grep "the plan shows the download size" "Download: [0-9.]+ KiB" "$T/out"
check_grep "the disk figure is an estimate before download" "\(estimated\)" "$T/out"
check "install medical" "$MB" pack install -y medical --json
cp "$T/out" i1.json
check "medical 1.0.0, anatomy 1.1.0 and base 1.0.3 (newest base medical accepts)" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
got={p["id"]:(p["version"],p["action"],p["automatic"],p.get("registry")) for p in d["packs"]}
assert got=={"medical":("1.0.0","install",False,"main"),"anatomy":("1.1.0","install",True,"main"),"base":("1.0.3","install",True,"main")}, got
assert d["download_bytes"]>0' i1.json
check "state records registry and URL" "$PY" -c '
import json,sys; s=json.load(open(sys.argv[1]))
m=[p for p in s["packs"] if p["id"]=="medical"][0]
assert m["source"]=="registry" and m["registry"]=="main" and m["origin"].endswith("reg/packs/medical/medical-1.0.0.mbpack"), m' "$H/state.json"
check_converged "consistent" "$H"
check "the archives are in the download cache" sh -c "ls '$H/cache/packs/' | grep -q '^medical-1.0.0-.*\.mbpack$'"

# --- pack info shows what the registry offers
check "pack info medical" "$MB" pack info medical
check_grep "available versions" "available main: 1.0.0" "$T/out"
check "pack info of a pack that is not installed" "$MB" pack info latin
check_grep "not installed, offered" "latin: not installed" "$T/out"

# --- a second pack: latin accepts the installed base; nothing else changes
check "install latin" "$MB" pack install -y latin
check_grep "only latin is installed" "^installed +latin 1.0.0" "$T/out"
check_exit 1 "the base is kept" grep -q "base" "$T/out"

# --- the cache and --offline
check "cache clean --dry-run" "$MB" cache clean --dry-run
check_grep "would remove the archives" "would remove [1-9][0-9]* files" "$T/out"
check "remove latin" "$MB" pack remove -y latin
check "install latin --offline from the cache" "$MB" pack install -y --offline latin
check "remove latin again" "$MB" pack remove -y latin
check "cache clean" "$MB" cache clean --json
cp "$T/out" clean.json
check "cache clean removed files" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["files"]>=4 and d["bytes"]>0, d' clean.json
check_exit 1 "no archives left in the cache" sh -c "ls -A '$H/cache/packs' | grep -q ."
check_exit 4 "install --offline without the archive cached" "$MB" pack install -y --offline latin
check_grep "says it is not cached" "not in the download cache.*--offline" "$T/err"

# --- --locked packs.lock
check "write a lock file" "$MB" resolve medical --write-lock packs.lock
H2="$T/h2"
KEY=$("$MB" key export-public --name maint --base64)
MODULARBASE_HOME="$H2" "$MB" registry add main ./reg --key "$KEY" >/dev/null
MODULARBASE_HOME="$T/h3" "$MB" registry add main ./reg --key "$KEY" >/dev/null
check "install --locked on another store" env MODULARBASE_HOME="$H2" "$MB" pack install -y --locked packs.lock medical
MODULARBASE_HOME="$H2" "$MB" pack list --json >l2.json
check "the same versions as the lock" "$PY" -c '
import json,sys; a={p["id"]:p["version"] for p in json.load(open(sys.argv[1]))["packs"]}
l={p["id"]:p["version"] for p in json.load(open(sys.argv[2]))["packs"]}
assert a==l, (a,l)' l2.json packs.lock
"$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); [p.update(version="1.0.0") for p in d["packs"] if p["id"]=="anatomy"]
json.dump(d,open(sys.argv[2],"w"))' packs.lock other.lock
check_exit 5 "--locked with a lock whose sha256 no longer matches" env MODULARBASE_HOME="$T/h3" "$MB" pack install -y --locked other.lock medical

# --- new versions: upgrade one pack, then everything
A12=$(sp anatomy 1.2.0 --compat "1.0" --seed 6)
M11=$(sp medical 1.1.0 --compat "1.0" --dep "anatomy@^1.2" --mb 0.5 --seed 7)
B104=$(sp base 1.0.4 --kind base --seed 8)
publish_packs reg "$A12" "$M11" "$B104"
check "registry update" "$MB" registry update
check "pack upgrade --dry-run" "$MB" pack upgrade --dry-run
check_grep "medical would be upgraded" "medical +1.0.0 -> 1.1.0" "$T/out"
check "pack upgrade anatomy" "$MB" pack upgrade -y anatomy
check_grep "anatomy upgraded" "^upgraded +anatomy 1.1.0 -> 1.2.0" "$T/out"
check_exit 1 "medical untouched" grep -q medical "$T/out"
check "pack upgrade" "$MB" pack upgrade -y
check_grep "medical upgraded" "^upgraded +medical 1.0.0 -> 1.1.0" "$T/out"
check_grep "base upgraded within what medical accepts" "^upgraded +base 1.0.3 -> 1.0.4" "$T/out"
check "nothing left to upgrade" "$MB" pack upgrade -y
check_grep "nothing to do" "Nothing to do" "$T/out"
check_exit 4 "upgrade of a pack that is not installed" "$MB" pack upgrade latin
check_converged "consistent after upgrades" "$H"
check_exit 1 "old versions removed" test -e "$H/packs/medical/1.0.0"

# --- remove: refusal, then autoremove
check_exit 7 "remove anatomy: medical depends on it" "$MB" pack remove anatomy
check_grep "names medical" "'medical' 1.1.0 depends on it" "$T/err"
check "remove medical" "$MB" pack remove -y medical
check_grep "anatomy autoremoved" "^removed +anatomy 1.2.0" "$T/out"
check_grep "base autoremoved" "^removed +base 1.0.4" "$T/out"
check "list --json" "$MB" pack list --json
check_eq "nothing installed" "$(tr -d ' \n' <"$T/out")" '{"packs":[]}'
check_converged "consistent after the removal" "$H"

# --- verify detects a modified file; --reinstall fixes it from the registry
check "install medical again" "$MB" pack install -y medical
"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=1; open(sys.argv[1],"wb").write(b)' "$H/packs/medical/1.1.0/weights/medical.gguf"
check_exit 5 "verify detects the modified GGUF" "$MB" pack verify
check_grep "names the file" "medical 1.1.0: modified: weights/medical.gguf" "$T/out"
check_exit 5 "verify medical --json" "$MB" pack verify medical --json
cp "$T/out" v.json
check "json lists one problem" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); assert not d["ok"] and d["problems"]==[{"id":"medical","version":"1.1.0","path":"weights/medical.gguf","problem":"modified"}], d' v.json
check "reinstall medical" "$MB" pack install -y --reinstall medical
check_grep "reinstalled" "^reinstalled +medical 1.1.0" "$T/out"
check "verify passes again" "$MB" pack verify
check_converged "consistent" "$H"
finish
