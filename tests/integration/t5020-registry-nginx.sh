# t5020-registry-nginx.sh - a registry served by a real nginx on 127.0.0.1:
# registry init in the server's directory, pack build, pack publish over
# HTTP PUT (WebDAV, bearer token; refused without it, and for an existing
# version), registry refresh on the server directory, registry add over HTTP,
# registry update with If-None-Match (304 in the access log), publish with the
# maintainer key over HTTP (index + re-signed snapshot uploaded), an update
# that fetches only the snapshot and the changed index file, resolve and
# download against it, and a second registry with a higher priority.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
. "$(dirname "$0")/nginx.sh"
need_nginx
cd "$T"
reg_keys
build_packs dist base:1.0.0:base anatomy:2.1.0 med:1.0.0:data:anatomy@^2 med:1.1.0:data:anatomy@^2 \
    tools:1.0.0 tools:2.0.0

check "registry init in the server's directory" "$MB" registry init www --name web --key maint --publisher-key pub
nginx_start web "$T/www"
URL=$NGX_URL_web

# --- publish over HTTP PUT
check_exit 9 "PUT without a token is refused (401)" "$MB" pack publish dist/base-1.0.0.mbpack --registry "$URL" --retries 0
check_grep "says to check the token" "HTTP 401.*token" "$T/err"
check_exit 9 "PUT with a wrong token is refused" "$MB" pack publish dist/base-1.0.0.mbpack --registry "$URL" --token nope
for p in base-1.0.0 anatomy-2.1.0 med-1.0.0 tools-1.0.0; do
    check "publish $p over PUT" "$MB" pack publish dist/$p.mbpack --registry "$URL" --token "$NGX_TOKEN"
done
check_grep "not indexed until refresh" "registry refresh" "$T/out"
check "the server has the archive" cmp dist/med-1.0.0.mbpack www/packs/med/med-1.0.0.mbpack
check "the server has the signature" cmp dist/med-1.0.0.mbpack.minisig www/packs/med/med-1.0.0.mbpack.minisig
check_eq "PUTs in the access log" "$(nginx_log_count web '^PUT /packs/.* 201 ')" 8
check_exit 1 "publishing an existing version over HTTP is refused" env MODULARBASE_TOKEN="$NGX_TOKEN" "$MB" pack publish dist/med-1.0.0.mbpack --registry "$URL"
check_grep "immutable" "immutable" "$T/err"
check "the refused publish did not PUT anything" test "$(nginx_log_count web '^PUT /packs/med/med-1.0.0.mbpack ')" = 1

check "maintainer refreshes the server directory" "$MB" registry refresh www --key maint
check_grep "4 packs" "4 packs, 4 versions" "$T/out"

# --- users
check "registry add over HTTP" "$MB" registry add web "$URL" --key "$(pubkey maint)"
check_grep "version 2" "snapshot version 2, 4 packs" "$T/out"
check "resolve against the HTTP registry" "$MB" resolve med --json
cp "$T/out" r1.json
check "plan: med 1.0.0, anatomy 2.1.0, base 1.0.0 from 'web'" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))
got={p["id"]:(p["version"],p["registry"]) for p in d["packs"]}
assert got=={"med":("1.0.0","web"),"anatomy":("2.1.0","web"),"base":("1.0.0","web")}, got' r1.json
check_eq "index files fetched on demand (sparse): only the three needed" "$(nginx_log_count web '^GET /index/')" 3
check_eq "tools.json was not fetched" "$(nginx_log_count web '^GET /index/tools.json')" 0

nginx_log_reset web
check "update without changes" "$MB" registry update
check_grep "up to date" "web: up to date \(version 2" "$T/out"
check_eq "revalidated with If-None-Match: 304" "$(nginx_log_count web '^GET /snapshot.json 304 0 "-" ""?[^"]')" 1
check_eq "nothing else fetched (the signature is asked for with the snapshot)" \
    "$(awk '{print $1, $2}' "$NGX_LOG_web" | sort | tr '\n' ' ')" "GET /snapshot.json GET /snapshot.json.minisig "

# --- publish with the maintainer key over HTTP: index and snapshot uploaded
nginx_log_reset web
check "publish med 1.1.0 with the maintainer key" "$MB" pack publish dist/med-1.1.0.mbpack --registry web --token "$NGX_TOKEN" --key maint
check_grep "snapshot version 3" "snapshot version 3" "$T/out"
check_eq "index PUT" "$(nginx_log_count web '^PUT /index/med.json 20[14] ')" 1
check_eq "snapshot PUT" "$(nginx_log_count web '^PUT /snapshot.json 20[14] ')" 1
check_eq "signature PUT" "$(nginx_log_count web '^PUT /snapshot.json.minisig 20[14] ')" 1
check "minisign verifies the uploaded snapshot" minisign -Vm www/snapshot.json -P "$(pubkey maint)"

nginx_log_reset web
check "update after the publish" "$MB" registry update --json
cp "$T/out" u1.json
check "update: 2 -> 3, one cached index file re-fetched" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))[0]
assert d["ok"] and d["old_version"]==2 and d["new_version"]==3 and d["index_fetched"]==1, d' u1.json
check_eq "only the snapshot, its signature and med.json were fetched" \
    "$(grep -E '^GET ' "$NGX_LOG_web" | awk '{print $2}' | sort | tr '\n' ' ')" \
    "/index/med.json /snapshot.json /snapshot.json.minisig "
check "resolve now picks med 1.1.0" "$MB" resolve med
check_grep "med 1.1.0" "install +med 1.1.0" "$T/out"
check "a refresh on the server keeps the uploaded entry identical" cp www/index/med.json med.before
check "refresh" "$MB" registry refresh www --key maint
check "index/med.json unchanged by the refresh" cmp med.before www/index/med.json

# --- download over HTTP
check "download med and tools" "$MB" registry download med tools --json
cp "$T/out" d1.json
check "downloads verified" "$PY" -c '
import json,sys,hashlib; d=json.load(open(sys.argv[1]))
assert all(x["ok"] for x in d), d
for x in d: assert hashlib.sha256(open(x["path"],"rb").read()).hexdigest()==x["sha256"]' d1.json
check "minisign -V on the downloaded archive" minisign -Vm home/cache/packs/med-1.1.0-*.mbpack -x "$(ls home/cache/packs/med-1.1.0-*.mbpack.minisig)" -P "$(pubkey pub)"

# --- priorities: a second registry listing 'tools' 2.0.0 wins only with a higher priority
check "second registry" "$MB" registry init www2 --name other --key other
PACK_KEY=other build_packs dist2 tools:2.0.0
check "publish into www2" "$MB" pack publish dist2/tools-2.0.0.mbpack --registry ./www2 --key other
nginx_start other "$T/www2"
check "add the second registry at priority 0" "$MB" registry add other "$NGX_URL_other" --key other
check "resolve tools: 'web' was added first and wins the tie" "$MB" resolve tools --json
cp "$T/out" r0.json
check "tools from web" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); t=[p for p in d["packs"] if p["id"]=="tools"][0]
assert (t["version"],t["registry"])==("1.0.0","web"), t' r0.json
check "remove and re-add with priority 10" "$MB" registry remove other
check "add again" "$MB" registry add other "$NGX_URL_other" --key other --priority 10
check "resolve tools now from 'other'" "$MB" resolve tools --json
cp "$T/out" r2.json
check "tools 2.0.0 from other" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1])); t=[p for p in d["packs"] if p["id"]=="tools"][0]
assert (t["version"],t["registry"])==("2.0.0","other"), t' r2.json
check "list shows the higher priority first" "$MB" registry list
check_eq "first line is 'other'" "$(head -1 "$T/out" | cut -d' ' -f1)" other
finish
