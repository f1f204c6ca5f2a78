# t5070-registry-keyfile.sh - pinning a registry key from a file: `registry add
# --key-file` with a public key file written by `key export-public` and with
# one written by the real minisign CLI (for a registry whose maintainer key
# was made by `minisign -G`); the pinned key id shows in `registry list
# --json`; a key file of another key is refused (exit 5) and a missing or
# malformed one is an error, each with config.yaml unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
cd "$T"
reg_keys
build_packs dist tools:1.0.0
"$MB" registry init www --name kf --key maint --publisher-key pub >/dev/null
"$MB" pack publish dist/tools-1.0.0.mbpack --registry ./www --key maint >/dev/null || exit 1
"$MB" key export-public --name maint >maint.pub || exit 1
"$MB" key export-public --name other >other.pub || exit 1
MAINT_ID=$("$MB" key list --json | "$PY" -c 'import json,sys; d=json.load(sys.stdin); d=d["keys"] if isinstance(d,dict) else d; print([k for k in d if k["name"]=="maint"][0]["key_id"])')
[ -n "$MAINT_ID" ] || { echo "no key id for maint"; exit 1; }

check "add with --key-file (key export-public)" "$MB" registry add kf "file://$T/www" --key-file maint.pub
check "registry list --json" "$MB" registry list --json
cp "$T/out" list.json
check "lists kf with its pinned key" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
regs = d["registries"] if isinstance(d, dict) else d
r = [r for r in regs if r["name"] == "kf"][0]
assert r["url"].startswith("file://"), r
s = json.dumps(r)
assert sys.argv[2] in s, (sys.argv[2], r)' list.json "$MAINT_ID"
check "download a pack verified through it" "$MB" registry download tools -q
cp home/config.yaml config.before

check_exit 5 "another key's file is refused" "$MB" registry add kf2 "file://$T/www" --key-file other.pub
check_grep "says the key is not the signer" "not pinned|signed by" "$T/err"
check_exit 4 "a missing key file" "$MB" registry add kf3 "file://$T/www" --key-file nosuch.pub
check_grep "names the file" "nosuch.pub" "$T/err"
echo "not a key" >bad.pub
check_exit 3 "a malformed key file" "$MB" registry add kf4 "file://$T/www" --key-file bad.pub
check_grep "names the file" "bad.pub" "$T/err"
check "config.yaml unchanged by the refusals" cmp home/config.yaml config.before

# --- a maintainer key made by the real minisign CLI
if command -v minisign >/dev/null; then
    minisign -G -W -p ms.pub -s ms.key >/dev/null 2>&1 || exit 1
    check "registry init with a minisign secret key" "$MB" registry init www2 --name ms --key "$T/ms.key" --publisher-key pub
    check "publish into it" "$MB" pack publish dist/tools-1.0.0.mbpack --registry ./www2 --key "$T/ms.key"
    check "snapshot verifies with minisign itself" minisign -V -q -p ms.pub -m www2/snapshot.json
    check "add with minisign's .pub file" "$MB" registry add ms "file://$T/www2" --key-file ms.pub
    check "registry update" "$MB" registry update ms
else
    ok "# skip: minisign not installed"
fi
finish
