# t6060-store-concurrent.sh - the writers' lock: a second writer waits with
# "waiting for another modularbase (pid N) to finish" and then sees the first
# one's result; --no-wait fails with exit 8 instead; readers (pack list, pack
# info, pack verify) never wait; a lock left by a killed process never blocks
# (flock dies with its holder) and the interrupted transaction is rolled back.
# The lock is held by util-linux flock(1) in every build, and by a stopped
# modularbase (MB_FAULT=stop:..., test-hooks builds only) for the rest.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
command -v flock >/dev/null || { echo "skipped: flock(1) missing"; exit 77; }
cd "$T"
H=$MODULARBASE_HOME
B1=$(mkpack pk base 1.0.0 --kind base)
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --mb 2)
check "install the base" "$MB" pack install -y "$B1"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- a foreign holder (flock -o: only flock itself holds the lock)
flock -o "$H/lock" sh -c 'echo $PPID >"$0"; sleep 2' "$H/lock" &
holder=$!
sleep 0.3
t0=$(now_ms)
check "pack list while locked" "$MB" pack list
check "pack verify while locked" "$MB" pack verify
check "pack info while locked" "$MB" pack info base
t1=$(now_ms)
[ $((t1 - t0)) -lt 1500 ] && ok "readers did not wait ($((t1 - t0)) ms)" || not_ok "readers waited $((t1 - t0)) ms"
check_exit 8 "--no-wait fails while locked" "$MB" pack install --no-wait -y "$A1"
check_grep "--no-wait names the holder" "locked by another modularbase \(pid $holder\)" "$T/err"
t0=$(now_ms)
check "a second writer waits, then installs" "$MB" pack install -y "$A1"
t1=$(now_ms)
check_grep "prints the waiting message with the pid" "waiting for another modularbase \(pid $holder\) to finish" "$T/err"
[ $((t1 - t0)) -ge 1000 ] && ok "it waited ($((t1 - t0)) ms)" || not_ok "it did not wait ($((t1 - t0)) ms)"
wait "$holder"

# --- a holder killed with SIGKILL releases the lock at once
flock -o "$H/lock" sleep 30 &
holder=$!
sleep 0.3
check_exit 8 "locked by the long holder" "$MB" pack install --no-wait -y "$M1"
child=$(pgrep -P "$holder")
kill -9 "$holder"
wait "$holder" 2>/dev/null
[ -n "$child" ] && kill "$child" 2>/dev/null # the sleep, which never held the lock (-o)
check "after the holder died: no wait" "$MB" pack install --no-wait -y "$M1"
check_exit 1 "no waiting message" grep -q waiting "$T/err"
check_converged "consistent" "$H"

if [ "${MB_TEST_HOOKS:-0}" != 1 ]; then
    echo "# the stopped-writer cases need -DMB_TEST_HOOKS=ON; skipped here"
    finish
fi

# Wait until process $1 is stopped (SIGSTOP by the fault hook).
wait_stopped() {
    for _ in $(seq 200); do
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ] && return 0
        sleep 0.05
    done
    return 1
}

# --- two installs of the same pack: the second sees the first's result
check "remove medical" "$MB" pack remove -y medical
MB_FAULT=stop:after-journal "$MB" pack install -y "$M1" >first.out 2>first.err &
first=$!
wait_stopped "$first" && ok "the first writer holds the lock mid-transaction" || not_ok "first writer not stopped"
"$MB" pack install -y "$M1" >second.out 2>second.err &
second=$!
sleep 1
kill -0 "$second" 2>/dev/null && ok "the second writer is waiting" || not_ok "the second writer did not wait"
check_grep "waiting message names the first writer" "waiting for another modularbase \(pid $first\)" second.err
check "pack list does not wait meanwhile" "$MB" pack list
check_exit 1 "and does not show the half-done install" grep -q "^medical" "$T/out"
kill -CONT "$first"
wait "$first"
check_eq "the first writer finished" "$?" 0
wait "$second"
check_eq "the second writer finished" "$?" 0
check_grep "the second saw the first's result" "Nothing to do" second.out
check_converged "consistent after both" "$H"

# --- a writer killed while holding the lock: the next one proceeds and rolls back
check "remove medical" "$MB" pack remove -y medical
store_snapshot "$H" >before.txt
MB_FAULT=stop:after-rename "$MB" pack install -y "$M1" >/dev/null 2>&1 &
first=$!
wait_stopped "$first" && ok "writer stopped after renaming into packs/" || not_ok "not stopped"
kill -9 "$first"
wait "$first" 2>/dev/null
store_snapshot "$H" >now.txt
check "readers still see the previous state" cmp before.txt now.txt
check "the next writer does not wait" "$MB" pack install --no-wait -y "$A1"
check_grep "and rolls the dead one back" "rolled back an interrupted 'install'.*pid $first" "$T/err"
check_converged "no leftovers of the killed writer" "$H"
finish
