# t6041-store-crash-timed.sh - kill -9 at timed points while a 40 MB pack is
# being upgraded (no test hooks needed: plain signals, so it runs in every
# build). After each kill, what readers see is exactly the old state or
# exactly the new one, never a mix and never a half-unpacked pack; the next
# run converges to the state of an uninterrupted run with no leftovers.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"

B1=$(mkpack pk base 1.0.0 --kind base)
H1=$(mkpack pk huge 1.0.0 --compat "^1" --mb 40)
H2=$(mkpack pk huge 1.1.0 --compat "^1" --mb 40 --seed 3)
S1=$(mkpack pk small 1.0.0 --compat "^1")
export MODULARBASE_HOME="$T/h0"
check "starting state" "$MB" pack install -y "$B1" "$H1"
store_snapshot "$T/h0" noworld >before.txt
cp -a "$T/h0" "$T/ref"
start=$(date +%s%N)
check "reference upgrade" env MODULARBASE_HOME="$T/ref" "$MB" pack install -y "$H2" "$S1"
dur_ms=$((($(date +%s%N) - start) / 1000000))
store_snapshot "$T/ref" noworld >ref.txt
store_snapshot "$T/ref" >ref-full.txt
echo "# an uninterrupted upgrade takes $dur_ms ms"

n=12
old=0 new=0
for i in $(seq 0 $((n - 1))); do
    H="$T/k$i"
    rm -rf "$H"
    cp -a "$T/h0" "$H"
    delay=$(awk -v i="$i" -v n="$n" -v d="$dur_ms" 'BEGIN { printf "%.3f", (i + 0.5) * d / n / 1000 }')
    MODULARBASE_HOME="$H" "$MB" pack install -y "$H2" "$S1" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # What readers see (the world may lag the commit by one step; recovery writes it).
    store_snapshot "$H" noworld >now.txt
    if cmp -s now.txt before.txt; then
        old=$((old + 1))
        ok "kill after ${delay}s: the old state, intact"
    elif cmp -s now.txt ref.txt; then
        new=$((new + 1))
        ok "kill after ${delay}s: the new state, complete"
    else
        not_ok "kill after ${delay}s: a mixed state"
        diff before.txt now.txt | head -8
    fi
    check "kill after ${delay}s: pack verify passes before any recovery" \
        env MODULARBASE_HOME="$H" "$MB" pack verify
    check "kill after ${delay}s: the next run succeeds" \
        env MODULARBASE_HOME="$H" "$MB" pack install -y "$H2" "$S1"
    store_snapshot "$H" >now.txt
    check "kill after ${delay}s: converged to the reference" cmp now.txt ref-full.txt
    check_converged "kill after ${delay}s: no leftovers" "$H"
    rm -rf "$H"
done
echo "# $old kills left the old state, $new the new one"
finish
