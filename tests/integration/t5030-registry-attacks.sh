# t5030-registry-attacks.sh - every refusal of the registry client, each by a
# real nginx serving the attack (docs/registry.md "Client checks"): an
# unsigned snapshot, one signed by an unpinned key, the same version with
# other content, an older snapshot (rollback), an expired one (freeze, and an
# expired trusted state), a swapped index file (mix-and-match), an endless
# index file and snapshot, a pack whose bytes differ from the index, a pack
# signed by an unlisted key or with a broken signature, hostile archive paths
# in a validly signed index, 404 and 503 answers, and mirrors (a bad mirror is
# refused; a good one is used when the URL is down or tampered with). After
# each refusal the previous trusted state is checked to be unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
. "$(dirname "$0")/nginx.sh"
need_nginx
command -v minisign >/dev/null || { echo "skipped: minisign missing"; exit 77; }
RESNAP="$SRC/tests/integration/helpers/resnap.py"
cd "$T"
reg_keys
build_packs dist base:1.0.0:base anatomy:2.1.0 med:1.0.0:data:anatomy@^2 med:1.1.0:data:anatomy@^2 \
    tools:1.0.0 evil:1.0.0
"$MB" registry init www --name sec --key maint --publisher-key pub >/dev/null
for p in base-1.0.0 anatomy-2.1.0 med-1.0.0 tools-1.0.0; do
    "$MB" pack publish dist/$p.mbpack --registry ./www >/dev/null || exit 1
done
"$MB" registry refresh www --key maint >/dev/null || exit 1
nginx_start sec "$T/www"
URL=$NGX_URL_sec

# nginx's ETag is mtime + size: give every change of the served snapshot its own
# mtime, or a change within one second could be answered "304 Not Modified".
stamp=1700000000
bump() {
    stamp=$((stamp + 10))
    touch -d "@$stamp" www/snapshot.json
}
sign_snap() { # KEY: sign www/snapshot.json with the real minisign
    minisign -S -s "home/keys/$1.key" -m www/snapshot.json -x www/snapshot.json.minisig </dev/null >/dev/null
    bump
}
refresh_www() { "$MB" registry refresh www --key maint "$@" >/dev/null && bump; }
save_snap() { cp www/snapshot.json "snap.$1" && cp www/snapshot.json.minisig "sig.$1"; }
restore_snap() { cp "snap.$1" www/snapshot.json && cp "sig.$1" www/snapshot.json.minisig && bump; }
trusted_version() {
    "$MB" registry list --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["snapshot"]["version"])'
}
upd() { "$MB" registry update --retries 0 "$@"; }

check "registry add" "$MB" registry add sec "$URL" --key maint
check "resolve med (caches med, anatomy, base)" "$MB" resolve med
check_eq "trusted version" "$(trusted_version)" 2
save_snap v2

# --- unsigned snapshot
refresh_www
save_snap v3
rm www/snapshot.json.minisig
check_exit 5 "an unsigned snapshot is refused" upd
check_grep "says it is not signed, names the URL" "${URL}snapshot.json: the snapshot is not signed" "$T/err"
check_eq "previous trusted state kept" "$(trusted_version)" 2

# --- signed by a key that is not pinned
sign_snap other
check_exit 5 "a snapshot signed by an unpinned key is refused" upd
check_grep "names the key" "signed by key [0-9A-F]{16}, which is not pinned" "$T/err"
check_eq "still version 2" "$(trusted_version)" 2
sign_snap pub
check_exit 5 "signed by the publisher key (not a maintainer) is refused" upd
restore_snap v3
check "the genuine snapshot is accepted" upd
check_eq "now version 3" "$(trusted_version)" 3

# --- the same version with other content
sed -i 's/"timestamp": "\(....\)/"timestamp": "2099/' www/snapshot.json
bump
sign_snap maint
check_exit 5 "version 3 again with other bytes is refused" upd
check_grep "says so" "version 3 again but with other content" "$T/err"
restore_snap v3
check "the same version with the same bytes is fine" upd
check_grep "up to date" "up to date \(version 3" "$T/out"

# --- rollback
refresh_www
save_snap v4
check "update to 4" upd
restore_snap v2
check_exit 5 "an older snapshot (rollback) is refused" upd
check_grep "rollback named, with both versions" "'version': 2 is lower than version 4 seen before \(rollback refused\)" "$T/err"
check_eq "still version 4" "$(trusted_version)" 4
restore_snap v4

# --- freeze: an expired snapshot from the server
refresh_www --expires 1s
sleep 2
check_exit 5 "an expired snapshot is refused (freeze)" upd
check_grep "names the field and says freeze" "'expires'.*expired at .*freeze refused" "$T/err"
check_eq "still version 4" "$(trusted_version)" 4
# An expired *trusted* snapshot is not used either.
refresh_www --expires 3s
check "a short-lived snapshot is accepted while valid" upd
sleep 4
check_exit 1 "resolve refuses an expired trusted snapshot" "$MB" resolve med
check_grep "says expired and what to do" "expired at .*registry update" "$T/err"
check_exit 5 "update: the server still serves it expired" upd
refresh_www
check "after a refresh by the maintainer, update works" upd
check "resolve works again" "$MB" resolve med
V=$(trusted_version)
save_snap good

# --- mix-and-match: an index file that is not the one the snapshot lists
cp www/index/med.json med.old
"$MB" pack publish dist/med-1.1.0.mbpack --registry ./www --key maint >/dev/null && bump
save_snap new
cp www/index/med.json med.new
cp med.old www/index/med.json
check_exit 5 "a swapped (old) index file is refused during update" upd
check_grep "mix-and-match named with the URL" "${URL}index/med.json: .*mix-and-match refused" "$T/err"
check_eq "update left the trusted state" "$(trusted_version)" "$V"
check "resolve still uses the trusted med.json" "$MB" resolve med
check_grep "med 1.0.0" "install +med 1.0.0" "$T/out"
cp med.new www/index/med.json
check "the right file is accepted" upd
V=$(trusted_version)
cp www/index/tools.json tools.good
sed -i 's/"version": "1.0.0"/"version": "1.0.9"/' www/index/tools.json
check_exit 5 "an index file fetched on demand with other bytes is refused" "$MB" resolve tools
check_grep "names the file" "index/tools.json: sha256 [0-9a-f]{64}, but the snapshot declares .*mix-and-match" "$T/err"
check "nothing cached for tools" test ! -f home/cache/registries/sec/index/tools.json

# --- endless data
rm www/index/tools.json
truncate -s 2G www/index/tools.json
nginx_log_reset sec
check_exit 3 "an endless index file is cut at its declared size" "$MB" resolve tools
check_grep "endless data" "more bytes than the [0-9]+ the snapshot declares.*endless data refused" "$T/err"
sent=$(awk '$2=="/index/tools.json" {print $4}' "$NGX_LOG_sec" | head -1)
check "the client stopped early (nginx sent ${sent:-?} bytes, far below 2 GiB)" test "${sent:-0}" -lt 100000000
cp tools.good www/index/tools.json
mv www/snapshot.json snap.real
truncate -s 1G www/snapshot.json
check_exit 3 "an endless snapshot is cut at the 64 MiB limit" upd
check_grep "names the limit" "snapshot is larger than the limit of 67108864 bytes" "$T/err"
check_eq "still version $V" "$(trusted_version)" "$V"
rm www/snapshot.json
mv snap.real www/snapshot.json

# --- packs: bytes, size and publisher signature
check "download med 1.1.0 works" "$MB" registry download med@1.1.0 -q
rm -rf home/cache/packs home/cache/partial
cp www/packs/med/med-1.1.0.mbpack med.pack.good
printf 'X' | dd of=www/packs/med/med-1.1.0.mbpack bs=1 seek=5000 conv=notrunc 2>/dev/null
check_exit 5 "a pack whose sha256 differs from the index is refused" "$MB" registry download med@1.1.0 -q
check_grep "names both hashes" "sha256 [0-9a-f]{64}, but the index declares [0-9a-f]{64}" "$T/err"
check "nothing kept in the cache" sh -c '! ls home/cache/packs/med-1.1.0-* 2>/dev/null | grep -q . && ! ls home/cache/partial/* 2>/dev/null | grep -q .'
cp med.pack.good www/packs/med/med-1.1.0.mbpack
cat med.pack.good med.pack.good >www/packs/med/med-1.1.0.mbpack
check_exit 3 "a pack longer than declared is cut (endless data)" "$MB" registry download med@1.1.0 -q --retries 0
check_grep "more bytes than declared" "more bytes than the [0-9]+ the index declares" "$T/err"
cp med.pack.good www/packs/med/med-1.1.0.mbpack
cp www/packs/med/med-1.1.0.mbpack.minisig sig.pack.good
minisign -S -s home/keys/other.key -m www/packs/med/med-1.1.0.mbpack -x www/packs/med/med-1.1.0.mbpack.minisig </dev/null >/dev/null
nginx_log_reset sec
check_exit 5 "a pack signed by a key registry.json does not list is refused" "$MB" registry download med@1.1.0 -q
check_grep "names the key" "signed by key [0-9A-F]{16}, which the registry's registry.json does not list as a publisher" "$T/err"
check_eq "the archive itself was never requested" "$(nginx_log_count sec '^GET /packs/med/med-1.1.0.mbpack ')" 0
minisign -S -s home/keys/pub.key -m www/packs/med/med-1.0.0.mbpack -x www/packs/med/med-1.1.0.mbpack.minisig </dev/null >/dev/null
check_exit 5 "a publisher signature of other bytes is refused" "$MB" registry download med@1.1.0 -q
check_grep "signature does not verify" "publisher signature does not verify" "$T/err"
cp sig.pack.good www/packs/med/med-1.1.0.mbpack.minisig
check "the genuine pack downloads" "$MB" registry download med@1.1.0 -q

# --- hostile archive paths in a validly signed index
"$PY" - <<'EOF'
import json
rec = json.load(open("www/index/tools.json"))
v = rec["versions"][0]
for name, archive in (("evilq", "packs/evil/evil-1.0.0.mbpack?x=1"), ("evild", "packs/../../../../etc/passwd")):
    r = dict(rec, id=name, versions=[dict(v, archive=archive)])
    json.dump(r, open(f"www/index/{name}.json", "w"), indent=2)
EOF
"$PY" "$RESNAP" www && sign_snap maint
check "update accepts the snapshot (the maintainer key signed it)" upd
check_exit 3 "an archive path with '?' is refused" "$MB" registry download evilq
check_grep "archive path refused" "archive path \"packs/evil/evil-1.0.0.mbpack\?x=1\" refused" "$T/err"
check_exit 3 "an archive path with '..' is refused" "$MB" registry download evild
check_grep "'..' refused by the index parser" "'\.' and '\.\.' components are not allowed" "$T/err"
check "nothing escaped the cache" test ! -e home/etc -a ! -e "$T/etc"

# --- 404 and 503
rm www/packs/tools/tools-1.0.0.mbpack
check_exit 4 "a missing archive: a clean 404" "$MB" registry download tools -q
check_grep "HTTP 404 with the URL" "${URL}packs/tools/tools-1.0.0.mbpack: HTTP 404" "$T/err"
nginx_start flaky "$T/www" 'location /packs/ { return 503; }'
check "add the same files behind a server that answers 503" "$MB" registry add flaky "$NGX_URL_flaky" --key maint --priority 5
rm -rf home/cache/packs
check_exit 6 "503 is retried, then reported" "$MB" registry download med@1.1.0 -q --retries 2
check_grep "says how many attempts" "HTTP 503 \(server error\) \(after 3 attempts\)" "$T/err"
check_eq "three requests reached the server" "$(nginx_log_count flaky '^GET /packs/med/med-1.1.0.mbpack.minisig 503')" 3
check "remove flaky" "$MB" registry remove flaky

# --- mirrors
mkdir -p evil && cp -a www/. evil/ && (cd evil && minisign -S -s ../home/keys/other.key -m snapshot.json -x snapshot.json.minisig </dev/null >/dev/null)
nginx_start evil "$T/evil"
dead="http://127.0.0.1:$(free_port)/"
check_exit 5 "URL down and a bad mirror: add is refused" "$MB" registry add m1 "$dead" --mirror "$NGX_URL_evil" --key maint --retries 0
check_grep "reports the mirror's refusal and that the URL failed" "${NGX_URL_evil}snapshot.json: snapshot.json.minisig is signed by key .*not pinned.*from mirror 1; the URL failed too" "$T/err"
check "config has no m1" sh -c '! grep -q "name: m1" home/config.yaml'
check "URL down, good mirror: add works" "$MB" registry add m2 "$dead" --mirror "$URL" --key maint --retries 0 --priority 9
check "download through the mirror" "$MB" registry download med@1.0.0 --json --retries 0
cp "$T/out" m2.json
check "came from the mirror, verified" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["ok"] and d["registry"]=="m2", d' m2.json
check "remove m2" "$MB" registry remove m2
check "tampered URL, good mirror" "$MB" registry add m3 "$NGX_URL_evil" --mirror "$URL" --key maint --retries 0
check_grep "added from the mirror" "added registry 'm3'" "$T/out"
refresh_www
check "update m3: the URL is refused, the mirror verifies" upd m3
check_grep "warns that the mirror was used" "fetched from a mirror; the URL failed: .*not pinned" "$T/err"
finish
