# t6090-store-nginx.sh - the store against a registry served by a real nginx
# on 127.0.0.1: install with dependencies over HTTP (the access log shows the
# index files and archives fetched), install by URL, a kill -9 in the middle
# of a download (rate-limited server) leaves the previous state intact and
# only a resumable partial in cache/partial/, and the next run continues it
# with an HTTP Range request and converges; upgrade after a new version is
# published; remove with autoremove.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
. "$(dirname "$0")/nginx.sh"
need_nginx
cd "$T"
H=$MODULARBASE_HOME
make_registry www web
sp() { mkpack dist "$@" --key pub; }
B1=$(sp base 1.0.0 --kind base)
A1=$(sp anatomy 1.0.0 --compat "1.0")
M1=$(sp medical 1.0.0 --compat "1.0" --dep "anatomy@^1")
L1=$(sp latin 1.0.0 --compat "1.0")
G1=$(sp big 1.0.0 --compat "1.0" --mb 12)
publish_packs www "$B1" "$A1" "$M1" "$L1" "$G1"
nginx_start web "$T/www" "location /packs/big/ { limit_rate 3m; }"
URL=$NGX_URL_web
check "registry add over HTTP" "$MB" registry add web "$URL" --key maint

check "install medical over HTTP" "$MB" pack install -y medical
check_grep "medical installed" "^installed +medical 1.0.0" "$T/out"
check_eq "three archives fetched" "$(nginx_log_count web '^GET /packs/.*\.mbpack 200 ')" 3
check_eq "and their signatures" "$(nginx_log_count web '^GET /packs/.*\.mbpack\.minisig 200 ')" 3
check_converged "consistent" "$H"

# --- install by URL
check "install by URL" "$MB" pack install -y "${URL}packs/latin/latin-1.0.0.mbpack"
check_grep "latin installed" "^installed +latin 1.0.0" "$T/out"
check "the origin is the URL" "$PY" -c '
import json,sys; s=json.load(open(sys.argv[1]))
l=[p for p in s["packs"] if p["id"]=="latin"][0]; assert l["origin"]==sys.argv[2] and l["source"]=="file", l' \
    "$H/state.json" "${URL}packs/latin/latin-1.0.0.mbpack"
check_exit 4 "a URL that does not exist" "$MB" pack install -y "${URL}packs/nope.mbpack"

# --- kill -9 during a download, then resume
store_snapshot "$H" >before.txt
nginx_log_reset web
"$MB" pack install -y big >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -n "$(find "$H/cache/partial" -name 'big-*' -size +1M 2>/dev/null)" ] && break
    sleep 0.1
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
store_snapshot "$H" >now.txt
check "killed mid-download: previous state intact" cmp before.txt now.txt
check "a partial download is kept" sh -c "find '$H/cache/partial' -name 'big-*.part' -size +1M | grep -q ."
check_exit 1 "no journal (nothing was started)" test -e "$H/journal"
check_exit 1 "nothing staged" sh -c "ls -A '$H/staging' | grep -q ."
check "the next run completes" "$MB" pack install -y big
check_grep "big installed" "^installed +big 1.0.0" "$T/out"
check_eq "it resumed with a Range request" "$(nginx_log_count web '^GET /packs/big/big-1.0.0.mbpack 206 [0-9]+ "bytes=[1-9][0-9]*-"')" 1
check_exit 1 "no partial left" sh -c "ls -A '$H/cache/partial' | grep -q ."
check_converged "consistent" "$H"

# --- a new version, upgrade, then remove with autoremove
A2=$(sp anatomy 1.1.0 --compat "1.0" --seed 9)
publish_packs www "$A2"
check "registry update" "$MB" registry update
check "pack upgrade" "$MB" pack upgrade -y
check_grep "anatomy upgraded" "^upgraded +anatomy 1.0.0 -> 1.1.0" "$T/out"
check "remove medical and big" "$MB" pack remove -y medical big
check_grep "anatomy autoremoved" "^removed +anatomy 1.1.0" "$T/out"
check "list" "$MB" pack list --json
cp "$T/out" l.json
check "latin and the base remain" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert [p["id"] for p in d]==["base","latin"], d' l.json
check_converged "consistent" "$H"

# --- the server goes away: local files still install (their dependencies are
# installed); what only the registry has fails with a network error
nginx_stop web
E1=$(mkpack pk extra 1.0.0 --compat "1.0" --dep "latin@^1")
check "a local file installs while the registry is unreachable" "$MB" pack install -y "$E1"
check_grep "extra installed" "^installed +extra 1.0.0" "$T/out"
check_exit 6 "a registry pack cannot be fetched" "$MB" pack install -y --reinstall latin
check_converged "consistent" "$H"
finish
