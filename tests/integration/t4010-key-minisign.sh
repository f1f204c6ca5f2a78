# t4010-key-minisign.sh - key generate/list/export-public, and interop with the
# real minisign CLI in both directions: what we sign verifies with
# `minisign -Vm FILE -p KEY.pub`, what minisign signs verifies with us, a secret
# key made by minisign (encrypted and -W) signs with us, and our secret keys
# (encrypted and --no-password) sign with minisign.
. "$(dirname "$0")/lib.sh"
command -v minisign >/dev/null || { echo "skipped: minisign not installed"; exit 77; }
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
MKGGUF="$SRC/tests/integration/helpers/make_pack_gguf.py"
cd "$T"

# --- key generate / list / export-public
check "key list with no keys" "$MB" key list
check_grep "key list says there are none" "no keys" "$T/err"
check "key generate --no-password" "$MB" key generate --no-password --name ci
check_grep "prints the key id" "generated key 'ci' \(key id [0-9A-F]{16}\)" "$T/out"
check "secret key is mode 0600" test "$(stat -c %a "$MODULARBASE_HOME/keys/ci.key")" = 600
check_exit 1 "generate refuses to overwrite" "$MB" key generate --no-password --name ci
check_grep "says --force" "already exists.*--force" "$T/err"
check "generate --force replaces" "$MB" key generate --no-password --name ci --force
check_exit 2 "bad key name" "$MB" key generate --no-password --name ../evil
check_exit 2 "no terminal and no password source" "$MB" key generate --name nopw </dev/null
check_grep "says how to give a password" "MODULARBASE_PASSWORD" "$T/err"
echo secret-pw >"$T/pwfile"
check "key generate with --password-file (encrypted)" "$MB" key generate --name enc --password-file "$T/pwfile"
check "key list" "$MB" key list
check_grep "lists ci unencrypted" "^ci +[0-9A-F]{16} +secret key \(unencrypted\)" "$T/out"
check_grep "lists enc encrypted" "^enc +[0-9A-F]{16} +secret key \(encrypted\)" "$T/out"
check "key list --json" "$MB" key list --json
cp "$T/out" keys.json
check "key list --json is valid JSON" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [k["name"] for k in d]==["ci","enc"] and d[1]["encrypted"] is True' keys.json
check "key export-public" "$MB" key export-public --name ci
cp "$T/out" exported.pub
check "export-public equals the .pub file" cmp exported.pub "$MODULARBASE_HOME/keys/ci.pub"
check_grep "minisign's public key comment" "^untrusted comment: minisign public key [0-9A-F]{16}$" exported.pub
check "export-public --base64" "$MB" key export-public --name ci --base64
B64=$(cat "$T/out")

# --- a small pack to sign
"$MB" pack init demo --id demo --domain test --license MIT >/dev/null
"$PY" "$MKGGUF" demo/weights/demo.gguf --id demo --version 0.1.0
PACK=demo-0.1.0.mbpack

# 1. We sign, minisign verifies (file key, -P key).
check "pack build --key ci" "$MB" pack build demo --key ci
check "minisign -V verifies our signature" minisign -Vm "$PACK" -p "$MODULARBASE_HOME/keys/ci.pub"
check "minisign -V -P verifies too" minisign -Vm "$PACK" -P "$B64"
check_grep "our trusted comment carries the file name" "file:$PACK" "$PACK.minisig"
check "our .minisig is prehashed (ED)" "$PY" -c 'import base64,sys; l=open(sys.argv[1]).read().splitlines(); assert base64.b64decode(l[1])[:2]==b"ED"' "$PACK.minisig"

# 2. minisign signs (its own key, -W), we verify.
minisign -G -W -p mini.pub -s mini.key >/dev/null 2>&1
rm -f "$PACK.minisig"
minisign -S -s mini.key -m "$PACK" >/dev/null 2>&1
check "we verify a minisign signature" "$MB" pack verify "$PACK" --key mini.pub
check_grep "signature verified" "signature: verified" "$T/out"
check "we verify with --key-file" "$MB" pack verify "$PACK" --key-file mini.pub
check "we verify with a base64 --key" "$MB" pack verify "$PACK" --key "$(tail -1 mini.pub)"
check_exit 5 "our key does not verify minisign's signature" "$MB" pack verify "$PACK" --key ci
check_grep "key id mismatch" "key id mismatch" "$T/err"

# 3. A legacy minisign signature is refused unless --allow-legacy.
minisign -S -l -s mini.key -m "$PACK" >/dev/null 2>&1
check_exit 5 "legacy signature refused" "$MB" pack verify "$PACK" --key mini.pub
check_grep "says legacy" "legacy" "$T/err"
check "legacy accepted with --allow-legacy" "$MB" pack verify "$PACK" --key mini.pub --allow-legacy

# 4. minisign's secret key (unencrypted -W) signs with us; minisign verifies.
check "pack build --key mini.key (minisign -W key)" "$MB" pack build demo --key "$T/mini.key"
check "minisign verifies" minisign -Vm "$PACK" -p mini.pub

# 5. minisign's encrypted secret key signs with us (password from the environment).
printf 'mini-pw\nmini-pw\n' | minisign -G -p minienc.pub -s minienc.key >/dev/null 2>&1
check "pack build with minisign's encrypted key" env MODULARBASE_PASSWORD=mini-pw "$MB" pack build demo --key "$T/minienc.key"
check "minisign verifies it" minisign -Vm "$PACK" -p minienc.pub
check_exit 5 "wrong password is refused" env MODULARBASE_PASSWORD=nope "$MB" pack build demo --key "$T/minienc.key"
check_grep "says wrong password" "wrong password" "$T/err"

# 6. Our secret keys sign with minisign: unencrypted, and encrypted (password on stdin).
echo "hello" >msg.txt
check "minisign signs with our unencrypted key" minisign -S -s "$MODULARBASE_HOME/keys/ci.key" -m msg.txt
check "and verifies with our .pub" minisign -Vm msg.txt -p "$MODULARBASE_HOME/keys/ci.pub"
printf 'secret-pw\n' | minisign -S -s "$MODULARBASE_HOME/keys/enc.key" -m msg.txt >"$T/out" 2>&1
check "minisign signs with our encrypted key" minisign -Vm msg.txt -p "$MODULARBASE_HOME/keys/enc.pub"
check "we sign with our encrypted key (password file)" "$MB" pack build demo --key enc --password-file "$T/pwfile"
check "minisign verifies that" minisign -Vm "$PACK" -p "$MODULARBASE_HOME/keys/enc.pub"
finish
