# t4020-pack-build-verify.sh - pack init scaffolds (and refuses a non-empty
# directory), pack build validates the manifest against the GGUF's
# modularbase.* keys and writes byte-identical archives from two checkouts
# with different mtimes and umasks, and pack verify catches every tampering
# case with a clear message and the documented exit status (5 trust, 3
# malformed): a flipped byte in the archive, in the signature, in the trusted
# comment, another key, unknown algorithm bytes, truncated files.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
MKGGUF="$SRC/tests/integration/helpers/make_pack_gguf.py"
cd "$T"

# --- pack init
check "pack init" "$MB" pack init med --id med --domain medicine --license Apache-2.0
check "pack.yaml exists" test -f med/pack.yaml
check "weights/ exists" test -d med/weights
check_grep "LICENSE is Apache" "Apache License, Version 2.0" med/LICENSE
check_grep "routing.examples is an empty list" "^  examples: \[\]" med/pack.yaml
check_grep "pack.yaml is commented" "^# " med/pack.yaml
check_exit 1 "pack init refuses a non-empty directory" "$MB" pack init med --id med --domain x
check_grep "says not empty" "not empty" "$T/err"
check_exit 2 "pack init: data pack needs --domain" "$MB" pack init other --id other
check_exit 2 "pack init: bad license" "$MB" pack init other --id other --domain d --license GPL-9
for lic in MIT CC-BY-4.0 proprietary; do
    check "pack init --license $lic" "$MB" pack init "l-$lic" --id "l-$(echo "$lic" | tr 'A-Z.' 'a-z-')" --domain d --license "$lic"
done
check_grep "MIT text" "Permission is hereby granted" l-MIT/LICENSE
check_grep "CC-BY text" "Creative Commons" l-CC-BY-4.0/LICENSE
check_grep "placeholder" "placeholder" l-proprietary/LICENSE
mkdir empty-id && (cd empty-id && "$MB" pack init --domain d >/dev/null 2>&1)
check_grep "pack init in . takes the directory name as id" "^id: empty-id" empty-id/pack.yaml

# --- pack build: validation against the GGUF
check_exit 4 "pack build without weights" "$MB" pack build med
check_grep "names the weights file" "weights.file.*does not exist" "$T/err"
"$PY" "$MKGGUF" med/weights/med.gguf --id med --version 0.1.0 --omit modularbase.pack.id
check_exit 3 "GGUF without modularbase.pack.id" "$MB" pack build med
check_grep "names the missing key and how to add it" "modularbase.pack.id' is missing.*add_string" "$T/err"
"$PY" "$MKGGUF" med/weights/med.gguf --id med --version 0.2.0
check_exit 3 "GGUF version disagrees" "$MB" pack build med
check_grep "names both values" "modularbase.pack.version' is '0.2.0' but pack.yaml says '0.1.0'" "$T/err"
"$PY" "$MKGGUF" med/weights/med.gguf --id med --version 0.1.0 --kind base
check_exit 3 "GGUF kind disagrees" "$MB" pack build med
echo "not a gguf" >med/weights/med.gguf
check_exit 3 "not a GGUF" "$MB" pack build med
sed -i 's/^version: 0.1.0/version: 01.0/' med/pack.yaml
check_exit 3 "bad version in pack.yaml" "$MB" pack build med
check_grep "names the file, line and field" "pack.yaml:[0-9]+:[0-9]+: version" "$T/err"
sed -i 's/^version: 01.0/version: 0.1.0/' med/pack.yaml
"$PY" "$MKGGUF" med/weights/med.gguf --id med --version 0.1.0 --tensor-mb 2
mkdir out1 out2
check "pack build" "$MB" pack build med -o out1
check_grep "names the archive" "built out1/med-0.1.0.mbpack \(4 files" "$T/out"
check "pack build --json" "$MB" pack build med -o out1 --json
cp "$T/out" build.json
check "--json is valid" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["files"]==4 and d["signature"] is None' build.json

# --- determinism: a second checkout with other mtimes, modes and umask
(umask 077 && mkdir clone && cp -r med/. clone/)
touch -d '2001-02-03 04:05:06' clone/pack.yaml clone/weights/med.gguf clone/weights clone
chmod 600 clone/README.md
check "pack build of the clone" "$MB" pack build clone -o out2
check "byte-identical archives" cmp out1/med-0.1.0.mbpack out2/med-0.1.0.mbpack
sleep 1
check "rebuild later" "$MB" pack build med -o out2
check "still byte-identical" cmp out1/med-0.1.0.mbpack out2/med-0.1.0.mbpack
mkdir -p out3
check "build with one zstd worker" env MB_ARCHIVE_THREADS=1 "$MB" pack build med -o out2
check "build with four zstd workers" env MB_ARCHIVE_THREADS=4 "$MB" pack build med -o out3
check "the worker count does not change the bytes" cmp out2/med-0.1.0.mbpack out3/med-0.1.0.mbpack
check "nor does the default count" cmp out1/med-0.1.0.mbpack out3/med-0.1.0.mbpack
echo "# changed" >>clone/README.md
"$MB" pack build clone -o out2 >/dev/null
check_exit 1 "a content change changes the bytes" cmp -s out1/med-0.1.0.mbpack out2/med-0.1.0.mbpack
check "the archive lists with GNU tar" sh -c "zstd -dc out1/med-0.1.0.mbpack | tar -tv > listing"
check_grep "MANIFEST.sha256 first" "^-rw-r--r-- 0/0 .* MANIFEST.sha256" listing
check_grep "mtime 0" "1970-01-01" listing
check "sha256sum agrees with MANIFEST.sha256" sh -c "mkdir x && zstd -dc out1/med-0.1.0.mbpack | tar -x -C x && cd x && awk '{print \$1\"  \"\$3}' MANIFEST.sha256 | sha256sum -c --quiet"

# --- pack verify
"$MB" key generate --no-password >/dev/null
"$MB" key generate --no-password --name other >/dev/null
P=out1/med-0.1.0.mbpack
check "pack build --sign" "$MB" pack build med -o out1 --sign
check "pack verify without a key" "$MB" pack verify "$P"
check_grep "says the signature was not checked" "signature: not checked" "$T/out"
check "pack verify --key default" "$MB" pack verify "$P" --key default
check_grep "signature verified" "signature: verified \(key [0-9A-F]{16}\)" "$T/out"
check "pack verify --json" "$MB" pack verify "$P" --key default --json
cp "$T/out" verify.json
check "verify --json is valid" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["signature"]["checked"] and len(d["members"])==4' verify.json
cp "$P" good.mbpack
cp "$P.minisig" good.minisig

# One flipped byte in the archive: with a key, the signature fails first (5).
"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=1; open(sys.argv[1],"wb").write(b)' "$P"
check_exit 5 "flipped byte in the archive (with key)" "$MB" pack verify "$P" --key default
check_grep "signature verification failed" "signature verification failed" "$T/err"
check_exit_any() { "$@" >"$T/out" 2>"$T/err"; local rc=$?; [ $rc = 3 ] || [ $rc = 5 ]; }
if check_exit_any "$MB" pack verify "$P"; then ok "flipped byte without key: exit 3 or 5"; else not_ok "flipped byte without key"; fi
cp good.mbpack "$P"

# A flipped byte in the signature (line 2), in the trusted comment (line 3).
"$PY" -c 'import sys; l=open(sys.argv[1]).read().split("\n"); s=list(l[1]); s[30]="A" if s[30]!="A" else "B"; l[1]="".join(s); open(sys.argv[1],"w").write("\n".join(l))' "$P.minisig"
check_exit 5 "flipped byte in the signature" "$MB" pack verify "$P" --key default
check_grep "signature verification failed" "signature verification failed" "$T/err"
cp good.minisig "$P.minisig"
"$PY" -c 'import sys; l=open(sys.argv[1]).read().split("\n"); l[2]=l[2].replace("timestamp:","timestamp:9",1); open(sys.argv[1],"w").write("\n".join(l))' "$P.minisig"
check_exit 5 "changed trusted comment" "$MB" pack verify "$P" --key default
check_grep "trusted comment's signature is invalid" "trusted comment's signature is invalid" "$T/err"
cp good.minisig "$P.minisig"

# Another key; unknown algorithm bytes; truncated signature; missing signature.
check_exit 5 "another key" "$MB" pack verify "$P" --key other
check_grep "key id mismatch" "key id mismatch" "$T/err"
"$PY" -c 'import base64,sys; l=open(sys.argv[1]).read().split("\n"); b=bytearray(base64.b64decode(l[1])); b[0:2]=b"Zz"; l[1]=base64.b64encode(bytes(b)).decode(); open(sys.argv[1],"w").write("\n".join(l))' "$P.minisig"
check_exit 5 "unknown algorithm bytes" "$MB" pack verify "$P" --key default
check_grep "unknown signature algorithm" "unknown signature algorithm 0x5a7a" "$T/err"
head -c 100 good.minisig >"$P.minisig"
check_exit 5 "truncated signature" "$MB" pack verify "$P" --key default
check_grep "signature error names the .minisig" "minisig" "$T/err"
rm "$P.minisig"
check_exit 5 "missing signature" "$MB" pack verify "$P" --key default
check_grep "says no signature file" "no signature file" "$T/err"
cp good.minisig "$P.minisig"

# Truncated archive: 5 with a key (signature), 3 without (malformed).
head -c 5000 good.mbpack >"$P"
check_exit 5 "truncated archive with key" "$MB" pack verify "$P" --key default
check_exit 3 "truncated archive without key" "$MB" pack verify "$P"
check_grep "says truncated or corrupt" "truncated|corrupt|missing" "$T/err"
cp good.mbpack "$P"
check "restored archive verifies" "$MB" pack verify "$P" --key default
check_exit 4 "missing archive" "$MB" pack verify nope.mbpack
check_exit 3 "not an archive" "$MB" pack verify med/pack.yaml
finish
