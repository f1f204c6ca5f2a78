# t5050-registry-transfers.sh - how downloads use the network, against a real
# nginx: --jobs N runs N transfers at once (seen as N partial files growing
# together in cache/partial/ while nginx throttles each connection, and in the
# wall time) and --jobs 1 one at a time; --limit-rate caps the bytes/s of all
# transfers together (a lower bound on the wall time that an unthrottled
# server cannot beat); the progress display is plain lines when stderr is not
# a terminal (start, quarters, end, total) and a redrawn block with bytes/s
# and ETA on a terminal (through script(1)); --jobs out of range is a usage
# error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
. "$(dirname "$0")/nginx.sh"
need_nginx
cd "$T"
reg_keys
MB_PACK_MB=3 build_packs dist p1:1.0.0 p2:1.0.0 p3:1.0.0
"$MB" registry init www --name tr --key maint --publisher-key pub >/dev/null
for p in p1 p2 p3; do
    "$MB" pack publish "dist/$p-1.0.0.mbpack" --registry ./www --key maint >/dev/null || exit 1
done
SIZE=$(stat -c %s dist/p1-1.0.0.mbpack)

# nginx serves archives at 2 MB/s per connection: parallel transfers are
# visible as several partial files growing at the same time (queued ones
# exist already, empty: the client opens and locks them all first; data is
# written in 1 MiB steps).
nginx_start slow "$T/www" "location /packs/ { limit_rate 2m; }"
check "registry add" "$MB" registry add tr "$NGX_URL_slow" --key maint

now() { date +%s.%N; }
elapsed() { "$PY" -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
ge() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }

# download_watch JOBS: download p1 p2 p3 with --jobs JOBS (plain progress on
# stderr kept in dl.err), print "MAXPARTIALS SECONDS": the most non-empty
# .part files seen at once in cache/partial/, and the wall time.
download_watch() {
    rm -rf home/cache/packs home/cache/partial
    local t0 max=0 n pid
    t0=$(now)
    "$MB" registry download p1 p2 p3 --jobs "$1" --retries 0 >dl.out 2>dl.err &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        n=$(find home/cache/partial -name '*.part' -size +0 2>/dev/null | wc -l)
        [ "$n" -gt "$max" ] && max=$n
        sleep 0.05
    done
    wait "$pid" || echo "download failed: $(cat dl.err)" >&2
    echo "$max $(elapsed "$t0")"
}

read -r par3 t3 < <(download_watch 3)
check_eq "--jobs 3: three partial files at once" "$par3" 3
check_eq "--jobs 3: all three verified" "$(grep -c '^p[123] 1.0.0 ' dl.out)" 3
read -r par1 t1 < <(download_watch 1)
check_eq "--jobs 1: one partial file at a time" "$par1" 1
check "--jobs 3 ($t3 s) is faster than --jobs 1 ($t1 s) on a throttled server" \
    "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.75 * float(sys.argv[2]) else 1)' "$t3" "$t1"

# --- the plain progress display (stderr is a file here), from the --jobs 1 run
for p in p1 p2 p3; do
    check_grep "plain: $p starts" "^fetching $p 1\.0\.0.*\([0-9.]+ [KM]i?B\)" dl.err
    check_grep "plain: $p at 50%" "^  $p 1\.0\.0.*: 50%" dl.err
    check_grep "plain: $p ends" "^fetched $p 1\.0\.0" dl.err
done
check_grep "plain: a total line with the rate" "^total: [0-9.]+ [KM]i?B in [0-9.]+ s \([0-9.]+ [KM]i?B/s\)" dl.err
check "plain: no terminal escapes" bash -c "! grep -q $'\e' dl.err"

# --- --limit-rate: the cap is over all transfers together, on a fast server
nginx_start fast "$T/www"
check "registry add (unthrottled)" "$MB" registry add trf "$NGX_URL_fast" --key maint --priority 9
rm -rf home/cache/packs home/cache/partial
t0=$(now)
check "--limit-rate 2M --jobs 3" "$MB" registry download p1 p2 p3 --jobs 3 --limit-rate 2M -q --retries 0
tl=$(elapsed "$t0")
total=$((3 * SIZE))
# at 2 MiB/s the bytes need total/2097152 s; allow 25% for libcurl's averaging
min=$("$PY" -c 'import sys; print("%.2f" % (0.75 * int(sys.argv[1]) / 2097152))' "$total")
check "$total bytes at 2 MiB/s took $tl s (at least $min s)" ge "$tl" "$min"
check_eq "the rate-limited run came from the unthrottled server" \
    "$(nginx_log_count fast '^GET /packs/p[123]/p[123]-1\.0\.0\.mbpack 200 ')" 3
rm -rf home/cache/packs home/cache/partial
t0=$(now)
check "the same without --limit-rate" "$MB" registry download p1 p2 p3 --jobs 3 -q --retries 0
tu=$(elapsed "$t0")
check "unlimited ($tu s) is much faster than limited ($tl s)" \
    "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.5 * float(sys.argv[2]) else 1)' "$tu" "$tl"

# --- on a terminal: a redrawn block with bytes/s and ETA (script(1) gives a pty)
if command -v script >/dev/null; then
    nginx_stop fast
    check "registry remove trf" "$MB" registry remove trf
    rm -rf home/cache/packs home/cache/partial
    script -qec "$MB registry download p1 p2 p3 --jobs 3 --retries 0" /dev/null >tty.out 2>&1
    check_grep "tty: per-file lines with a bar" "p[123] 1\.0\.0 +\[=*>? *\] +[0-9]+% " tty.out
    check_grep "tty: a total line with bytes/s and ETA" "total: [0-9]/3 files, .*/s, ETA [0-9-]+:[0-9-]+" tty.out
    check_grep "tty: the block is redrawn in place" $'\e\\[[0-9]+A' tty.out
    check_grep "tty: ends with all three done" "total: 3/3 files, .*ETA 0:00" tty.out
else
    ok "# skip: script(1) not installed"
fi

# --- bad values
check_exit 2 "--jobs 65 is a usage error" "$MB" registry download p1 --jobs 65
check_grep "says the limit" "at most 64" "$T/err"
check_exit 2 "--limit-rate garbage is a usage error" "$MB" registry download p1 --limit-rate fast
finish
