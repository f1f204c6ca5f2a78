# t5010-registry-file.sh - a whole registry life cycle over file:// with no
# server: registry init, pack publish (without and with the maintainer key),
# refresh (idempotent index files, version bump, notes for packs left out),
# registry add (pinned key; refused without one or with a wrong one, config
# unchanged), list, update, resolve against the registry, download (cached on
# the second run), yank/unyank, immutability, name and URL checks, remove.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
cd "$T"
reg_keys
build_packs dist base:1.0.0:base base:1.1.0:base anatomy:2.1.0 anatomy:2.2.0 \
    med:1.0.0:data:anatomy@^2 med:1.1.0:data:anatomy@~2.1
PACK_KEY=other build_packs rogue rogue:1.0.0

# --- registry init
check "registry init" "$MB" registry init reg --name test --key maint --publisher-key pub
check_grep "prints the add line" "registry add test URL --key RW" "$T/out"
check "registry.json, snapshot and its signature exist" test -f reg/registry.json -a -f reg/snapshot.json -a -f reg/snapshot.json.minisig
check "minisign verifies the snapshot with the maintainer key" minisign -Vm reg/snapshot.json -P "$(pubkey maint)"
check "the publisher key is listed" grep -qF "$(pubkey pub)" reg/registry.json
check_exit 1 "init refuses an existing registry" "$MB" registry init reg --name test --key maint
check_exit 2 "init needs --name" "$MB" registry init reg2 --key maint
check_exit 3 "init refuses a bad name" "$MB" registry init reg2 --name ../x --key maint
check_exit 4 "refresh of a non-registry" "$MB" registry refresh dist --key maint

# --- publish into the directory (no maintainer key): not indexed until refresh
for p in base-1.0.0 anatomy-2.1.0 med-1.0.0; do
    check "publish $p" "$MB" pack publish dist/$p.mbpack --registry ./reg
done
check_grep "says a refresh is needed" "registry refresh" "$T/out"
check "archive and signature are in packs/" test -f reg/packs/med/med-1.0.0.mbpack -a -f reg/packs/med/med-1.0.0.mbpack.minisig
check_exit 1 "publishing the same version again is refused" "$MB" pack publish dist/med-1.0.0.mbpack --registry ./reg
check_grep "versions are immutable" "immutable" "$T/err"
check_exit 5 "a pack signed by an unlisted key is refused" "$MB" pack publish rogue/rogue-1.0.0.mbpack --registry ./reg
check_grep "names the key and registry.json" "not list as a publisher" "$T/err"
cp rogue/rogue-1.0.0.mbpack* reg/packs/ 2>/dev/null
mkdir -p reg/packs/rogue && cp rogue/rogue-1.0.0.mbpack* reg/packs/rogue/
mkdir -p reg/packs/nosig && cp dist/base-1.1.0.mbpack reg/packs/nosig/nosig-1.0.0.mbpack

check "refresh" "$MB" registry refresh reg --key maint --json
cp "$T/out" refresh1.json
check "refresh json: 3 packs, version 2" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["new_version"]==2 and d["packs"]==3 and d["added"]==3, d
why={s["path"]: s["why"] for s in d["skipped"]}
assert "not list as a publisher" in why["packs/rogue/rogue-1.0.0.mbpack"], why
assert "no publisher signature" in why["packs/nosig/nosig-1.0.0.mbpack"], why
' refresh1.json
cp -r reg/index index.before
check "refresh again" "$MB" registry refresh reg --key maint --json
cp "$T/out" refresh2.json
check "second refresh reuses every archive and bumps the version" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert d["new_version"]==3 and d["hashed"]==0 and d["reused"]==3 and not d["changed"], d' refresh2.json
check "index files are byte-identical after a refresh" diff -r index.before reg/index
check "--verify-all re-reads and yields the same bytes" "$MB" registry refresh reg --key maint --verify-all
check "same index after --verify-all" diff -r index.before reg/index
check_exit 5 "refresh with a key that is not a maintainer key" "$MB" registry refresh reg --key pub
check_grep "says which key" "not a maintainer key" "$T/err"

# --- users: registry add pins the key
check_exit 2 "add without a key is refused" "$MB" registry add test ./reg
check_grep "no key, no registry" "no key, no registry" "$T/err"
check_exit 5 "add with the wrong key is refused" "$MB" registry add test ./reg --key "$(pubkey other)"
check_grep "names the unpinned key" "not pinned" "$T/err"
check "config.yaml is unchanged after a refused add" test ! -f home/config.yaml
for bad in '../x' 'a/b' 'a?b' 'a#b' 'A' '.x'; do
    check_exit 3 "registry name '$bad' is refused" "$MB" registry add "$bad" ./reg --key "$(pubkey maint)"
done
check_exit 3 "a URL with a query is refused" "$MB" registry add q 'http://127.0.0.1:1/reg?x=1' --key "$(pubkey maint)"
check_exit 3 "an ftp URL is refused" "$MB" registry add q 'ftp://127.0.0.1/reg' --key "$(pubkey maint)"
check "registry add" "$MB" registry add test ./reg --key maint
check_grep "reports the snapshot" "snapshot version 4, 3 packs" "$T/out"
check "config.yaml pins the key" grep -qF "$(pubkey maint)" home/config.yaml
check_exit 1 "adding the same name twice" "$MB" registry add test ./reg --key maint
check "registry list --json" "$MB" registry list --json
cp "$T/out" list.json
check "list shows version 4, 3 packs, nothing cached yet" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert len(d)==1 and d[0]["snapshot"]["version"]==4 and d[0]["snapshot"]["packs"]==3, d
assert d[0]["snapshot"]["index_cached"]==0 and d[0]["url"].startswith("file:///"), d' list.json

# --- resolve against the registry (index files fetched on demand)
check "resolve med" "$MB" resolve med
check_grep "med 1.0.0" "install +med 1.0.0" "$T/out"
check_grep "anatomy 2.1.0" "install +anatomy 2.1.0" "$T/out"
check_grep "base 1.0.0" "install +base 1.0.0 \(base\)" "$T/out"
check "only the needed index files were fetched" test -f home/cache/registries/test/index/med.json -a -f home/cache/registries/test/index/anatomy.json
check_exit 7 "resolve an unknown pack" "$MB" resolve nosuch
check_grep "explains" "nosuch which doesn't exist" "$T/err"

# --- publish with the maintainer key: indexed at once
check "publish with --key" "$MB" pack publish dist/med-1.1.0.mbpack --registry ./reg --key maint
check_grep "index updated" "snapshot version 5" "$T/out"
check "publish anatomy 2.2.0 with --key" "$MB" pack publish dist/anatomy-2.2.0.mbpack --registry ./reg --key maint
check "registry update" "$MB" registry update --json
cp "$T/out" upd.json
check "update: 4 -> 6, the two cached changed index files re-fetched" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))[0]
assert d["ok"] and d["old_version"]==4 and d["new_version"]==6 and d["index_fetched"]==2, d' upd.json
check "resolve picks the new versions" "$MB" resolve med
check_grep "med 1.1.0" "install +med 1.1.0" "$T/out"
check_grep "anatomy ~2.1 keeps 2.1.0" "install +anatomy 2.1.0" "$T/out"
check "update again: up to date" "$MB" registry update
check_grep "up to date" "test: up to date \(version 6" "$T/out"

# --- download: verified into the cache, reused the second time
check "download med and base" "$MB" registry download med base@1.0 --json
cp "$T/out" dl.json
check "download json" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert [x["version"] for x in d]==["1.1.0","1.0.0"] and all(x["ok"] and not x["cached"] for x in d), d
import hashlib
for x in d: assert hashlib.sha256(open(x["path"],"rb").read()).hexdigest()==x["sha256"]' dl.json
check "minisign verifies the downloaded pack with the publisher key" minisign -Vm home/cache/packs/med-1.1.0-*.mbpack -x "$(ls home/cache/packs/med-1.1.0-*.mbpack.minisig)" -P "$(pubkey pub)"
mkdir exported
check "download again" "$MB" registry download med -o exported --json
cp "$T/out" dl2.json
check "second download is cached and exported" "$PY" -c '
import json,sys,os; d=json.load(open(sys.argv[1]))
assert d[0]["cached"] and d[0]["fetched"]==0, d
assert os.path.exists("exported/med-1.1.0.mbpack") and os.path.exists("exported/med-1.1.0.mbpack.minisig")' dl2.json
check_exit 4 "download of a range nothing matches" "$MB" registry download med@^9

# --- yank / unyank
check "yank med 1.1.0" "$MB" registry yank reg med@1.1.0 --key maint
check_grep "yanked flag in the index" '"yanked": true' reg/index/med.json
check "update sees the yank" "$MB" registry update
check "resolve skips the yanked version" "$MB" resolve med
check_grep "med 1.0.0 again" "install +med 1.0.0" "$T/out"
check_exit 4 "download of only-yanked versions" "$MB" registry download med@1.1.0
check_grep "says non-yanked" "non-yanked" "$T/err"
check "refresh keeps the yank" "$MB" registry refresh reg --key maint
check_grep "still yanked" '"yanked": true' reg/index/med.json
check "unyank" "$MB" registry unyank reg med@1.1.0 --key maint
check "update" "$MB" registry update
check "resolve chooses 1.1.0 again" "$MB" resolve med
check_grep "med 1.1.0 back" "install +med 1.1.0" "$T/out"
check_exit 4 "yank of an unknown version" "$MB" registry yank reg med@7.0.0 --key maint
check_exit 5 "yank with a wrong key changes nothing" "$MB" registry yank reg med@1.0.0 --key pub
check_grep "not yanked" '"yanked": false' reg/index/med.json

# --- a removed archive disappears from the index
rm reg/packs/anatomy/anatomy-2.2.0.mbpack*
check "refresh after removing an archive" "$MB" registry refresh reg --key maint --json
cp "$T/out" refresh3.json
check "one version removed" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["removed"]==1, d' refresh3.json

# --- remove
check "registry remove" "$MB" registry remove test
check "its cache is gone" test ! -d home/cache/registries/test
check_exit 4 "remove again" "$MB" registry remove test
check "list is empty" "$MB" registry list
check_grep "no registries" "no registries configured" "$T/out"
finish
