# t5040-registry-resume.sh - resumable downloads against a real nginx: the
# client is killed (SIGKILL) in the middle of a rate-limited download; the
# next run continues from the partial file with a Range request (seen in
# nginx's access log as a 206 for "bytes=N-") and the result verifies. With
# Range disabled on the server (max_ranges 0) the next run still completes by
# starting over. A partial file that is already complete is verified without
# fetching it again, and a partial file with wrong bytes is detected by the
# hash and fetched again from the start.
#
# The killed run is throttled on both sides so that the kill always lands
# mid-file: the client asks for --limit-rate, and nginx serves at 3 MB/s while
# $T/www/.throttle exists (limit_rate with a variable); the later runs go at
# full speed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
. "$(dirname "$0")/nginx.sh"
need_nginx
cd "$T"
reg_keys
MB_PACK_MB=24 build_packs dist big:1.0.0
"$MB" registry init www --name big --key maint --publisher-key pub >/dev/null
"$MB" pack publish dist/big-1.0.0.mbpack --registry ./www --key maint >/dev/null || exit 1
SIZE=$(stat -c %s dist/big-1.0.0.mbpack)
SHA=$(sha256sum dist/big-1.0.0.mbpack | cut -d' ' -f1)
PART="home/cache/partial/big-1.0.0-${SHA:0:12}.mbpack.part"

THROTTLE='set $mb_rate 0; if (-f $document_root/.throttle) { set $mb_rate 3m; } limit_rate $mb_rate;'

# Start a rate-limited download, kill it with SIGKILL once $1 bytes arrived.
kill_midway() {
    local want=$1
    touch "$T/www/.throttle"
    "$MB" registry download big --limit-rate 3M -q >/dev/null 2>&1 &
    local pid=$! i size=0
    for i in $(seq 1 300); do
        size=$(stat -c %s "$PART" 2>/dev/null || echo 0)
        [ "$size" -ge "$want" ] && break
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$T/www/.throttle"
    stat -c %s "$PART" 2>/dev/null || echo 0
}

nginx_start ranges "$T/www" "$THROTTLE"
check "registry add" "$MB" registry add big "$NGX_URL_ranges" --key maint
got=$(kill_midway 4000000)
check "the killed download left a partial file (${got} of $SIZE bytes)" test "$got" -ge 4000000 -a "$got" -lt "$SIZE"
nginx_log_reset ranges
check "the next run completes" "$MB" registry download big --json -q
cp "$T/out" r1.json
check "it says resumed, verified, and fetched only the rest" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))[0]
assert d["ok"] and d["resumed"] and d["sha256"]==sys.argv[2], d
assert d["fetched"] < int(sys.argv[3]), d' r1.json "$SHA" "$SIZE"
check_eq "nginx saw a Range request answered with 206" \
    "$(nginx_log_count ranges '^GET /packs/big/big-1.0.0.mbpack 206 [0-9]+ "bytes=[0-9]+-"')" 1
start=$(awk '$2=="/packs/big/big-1.0.0.mbpack" {print $5}' "$NGX_LOG_ranges" | tr -d '"' | sed 's/bytes=//; s/-$//')
check "the range starts where the partial file ended (byte $start >= $got)" test "$start" -ge "$got"
check "the partial file is gone" test ! -e "$PART"
check "the cached archive is byte-identical" cmp dist/big-1.0.0.mbpack home/cache/packs/big-1.0.0-"${SHA:0:12}".mbpack

# --- a complete partial file (killed while verifying): verified without refetching
rm -rf home/cache/packs
cp dist/big-1.0.0.mbpack "$PART"
nginx_log_reset ranges
check "a complete partial file is verified" "$MB" registry download big --json -q
check_eq "the archive was not requested again" "$(nginx_log_count ranges '^GET /packs/big/big-1.0.0.mbpack ')" 0

# --- a partial file with wrong bytes: the hash catches it, fetched again from zero
rm -rf home/cache/packs
head -c 5000000 /dev/urandom >"$PART"
nginx_log_reset ranges
check "a corrupt partial file is refetched" "$MB" registry download big --json -q
cp "$T/out" r2.json
check "verified in the end" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["ok"] and d["sha256"]==sys.argv[2], d' r2.json "$SHA"
check_eq "first a Range request, then the whole file" \
    "$(awk '$2=="/packs/big/big-1.0.0.mbpack" {print $3}' "$NGX_LOG_ranges" | tr '\n' ' ')" "206 200 "

# --- a server that ignores Range (max_ranges 0): the next run starts over and completes
export MODULARBASE_HOME="$T/home2"
cp -r "$T/home/keys" "$T/home2-keys" && mkdir -p "$T/home2" && mv "$T/home2-keys" "$T/home2/keys"
nginx_start noranges "$T/www" "max_ranges 0; $THROTTLE"
check "registry add (no ranges)" "$MB" registry add big "$NGX_URL_noranges" --key maint
PART="$T/home2/cache/partial/big-1.0.0-${SHA:0:12}.mbpack.part"
got=$(kill_midway 4000000)
check "a partial file was left (${got} bytes)" test "$got" -ge 4000000 -a "$got" -lt "$SIZE"
nginx_log_reset noranges
check "the next run completes anyway" "$MB" registry download big --json -q
cp "$T/out" r3.json
check "verified" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["ok"] and d["sha256"]==sys.argv[2], d' r3.json "$SHA"
check_eq "the Range request was answered with the whole file (200)" \
    "$(nginx_log_count noranges '^GET /packs/big/big-1.0.0.mbpack 200 '"$SIZE"' "bytes=[0-9]+-"')" 1
finish
