# t5060-registry-timeout.sh - a server that goes silent in the middle of an
# archive (tests/integration/helpers/stall_server.py: headers and 64 KiB, then
# nothing): with --timeout 1 the client gives up on the stalled transfer after
# about a second and retries (with backoff), continuing from what it has with a
# Range request, and the result verifies; with --retries 0 it fails with exit 6
# after about a second, with a message naming the URL and the timeout, keeping
# the partial file for the next run, which completes it. Also --timeout out of
# range is a usage error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
cd "$T"
reg_keys
MB_PACK_MB=2 build_packs dist slow:1.0.0
"$MB" registry init www --name st --key maint --publisher-key pub >/dev/null
"$MB" pack publish dist/slow-1.0.0.mbpack --registry ./www --key maint >/dev/null || exit 1
SHA=$(sha256sum dist/slow-1.0.0.mbpack | cut -d' ' -f1)
ARCH=/packs/slow/slow-1.0.0.mbpack

# start_server STALLS: serve www, stalling the first STALLS GETs of the archive
start_server() {
    rm -f port log
    : >log
    "$PY" "$SRC/tests/integration/helpers/stall_server.py" www port log "$ARCH" "$1" &
    SRV_PID=$!
    at_exit "kill $SRV_PID 2>/dev/null"
    local i
    for i in $(seq 1 100); do
        [ -s port ] && break
        sleep 0.05
    done
    URL="http://127.0.0.1:$(cat port)/"
}
stop_server() {
    kill "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
}
now() { date +%s.%N; }
elapsed() { "$PY" -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
lt() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }

start_server 1
check "registry add" "$MB" registry add st "$URL" --key maint

# --- a stall, then a retry that continues and verifies
t0=$(now)
check "download with --timeout 1 survives a stalled transfer" \
    "$MB" registry download slow --timeout 1 --retries 2 --json -q
cp "$T/out" r1.json
t=$(elapsed "$t0")
check "verified" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["ok"] and d["sha256"]==sys.argv[2], d' r1.json "$SHA"
check "gave up on the stall after about a second ($t s, the server stalls 60 s)" lt "$t" 5
check_eq "two requests for the archive: stalled, then retried" "$(grep -c "^GET $ARCH " log)" 2
check_eq "the first one stalled mid-body" "$(grep "^GET $ARCH " log | head -1 | cut -d' ' -f3-)" "200 -"
check "the retry continued with a Range request" grep -qE "^GET $ARCH 206 bytes=[1-9][0-9]*-$" log
check "the cached archive is byte-identical" cmp dist/slow-1.0.0.mbpack home/cache/packs/slow-1.0.0-"${SHA:0:12}".mbpack
stop_server

# --- no retries: a clear failure, fast, and the partial file kept
rm -rf home/cache/packs home/cache/partial
start_server 1
"$MB" registry remove st >/dev/null
check "registry add again" "$MB" registry add st "$URL" --key maint
t0=$(now)
check_exit 6 "--retries 0: the stalled download fails (network error)" \
    "$MB" registry download slow --timeout 1 --retries 0 -q
t=$(elapsed "$t0")
cp "$T/err" fail.err
check "it failed after about a second ($t s)" lt "$t" 4
check_grep "the error names the URL and the timeout" "${URL}packs/slow/slow-1.0.0.mbpack: timeout: no data for 1 s" fail.err
check "the partial file was kept" bash -c 'ls home/cache/partial/slow-1.0.0-*.part'
check "the next run completes it" "$MB" registry download slow --timeout 1 --retries 0 --json -q
cp "$T/out" r2.json
check "verified" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["ok"] and d["sha256"]==sys.argv[2], d' r2.json "$SHA"
stop_server

check_exit 2 "--timeout 4000 is a usage error" "$MB" registry download slow --timeout 4000
check_grep "says the limit" "at most 3600" "$T/err"
finish
