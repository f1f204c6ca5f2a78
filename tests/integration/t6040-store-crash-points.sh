# t6040-store-crash-points.sh - kill -9 at every step of a transaction (the
# MB_FAULT hook, compiled only with MB_TEST_HOOKS) and check after each kill:
# before the commit point the previous state is intact (pack list, world and
# every file's sha256 identical); after it the new state is complete; readers
# see no half-installed pack either way (pack verify passes without any
# recovery); and the next run converges to exactly the state of an
# uninterrupted run, with no journal, nothing in staging/ and no directory in
# packs/ that state.json does not name. The transaction under test upgrades
# a pack from a file, installs one from a bundle, and autoremoves one.
. "$(dirname "$0")/lib.sh"
[ "${MB_TEST_HOOKS:-0}" = 1 ] || { echo "skipped: needs a build with -DMB_TEST_HOOKS=ON"; exit 77; }
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"

B1=$(mkpack pk base 1.0.0 --kind base)
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --dep "anatomy@^1")
M2=$(mkpack pk medical 1.1.0 --compat "^1" --dep "physiology@^1" --mb 3 --seed 2)
P1=$(mkpack pk physiology 1.0.0 --compat "^1" --mb 2)

# The starting state: medical 1.0.0 asked for, anatomy and base automatic (from a bundle).
MODULARBASE_HOME="$T/scratch" "$MB" pack install -y "$B1" "$A1" "$M1" >/dev/null
MODULARBASE_HOME="$T/scratch" "$MB" pack export medical -o start.tar >/dev/null
MODULARBASE_HOME="$T/scratch" "$MB" pack install -y "$P1" >/dev/null
MODULARBASE_HOME="$T/scratch" "$MB" pack export physiology --no-deps -o phys.tar >/dev/null
export MODULARBASE_HOME="$T/h0"
check "starting state from a bundle" "$MB" pack install -y start.tar
store_snapshot "$T/h0" >before.txt
check_grep "anatomy starts automatic" '"id": "anatomy".*"automatic": true' before.txt

TX=("$M2" phys.tar)
# The reference: the same transaction, uninterrupted.
cp -a "$T/h0" "$T/ref"
check "reference transaction" env MODULARBASE_HOME="$T/ref" "$MB" pack install -y "${TX[@]}"
check_grep "reference upgraded medical" "^upgraded +medical 1.0.0 -> 1.1.0" "$T/out"
check_grep "reference removed anatomy (autoremove)" "^removed +anatomy 1.0.0" "$T/out"
check_grep "reference installed physiology" "^installed +physiology 1.0.0" "$T/out"
store_snapshot "$T/ref" >ref.txt

pre="after-download after-journal after-bundle-copy during-unpack after-unpack after-unpack#2 \
after-rename after-rename#2 state-written"
post="state-renamed after-commit after-world after-remove"
for point in $pre $post; do
    H="$T/h-${point//#/-}"
    rm -rf "$H"
    cp -a "$T/h0" "$H"
    MODULARBASE_HOME="$H" MB_FAULT="$point" "$MB" pack install -y "${TX[@]}" >"$T/out" 2>"$T/err"
    rc=$?
    check_eq "$point: the process was killed" "$rc" 137
    store_snapshot "$H" >now.txt
    case " $pre " in
    *" $point "*)
        if cmp -s before.txt now.txt; then ok "$point: previous state intact"; else
            not_ok "$point: previous state changed"
            diff before.txt now.txt | head -10
        fi
        ;;
    *)
        # Committed: the new packs are listed and complete (old directories may remain).
        MODULARBASE_HOME="$H" "$MB" pack list --json >l1.json
        MODULARBASE_HOME="$T/ref" "$MB" pack list --json >l2.json
        check "$point: the new state is committed" cmp l1.json l2.json
        ;;
    esac
    check "$point: readers see complete packs (verify before recovery)" \
        env MODULARBASE_HOME="$H" "$MB" pack verify
    check "$point: the next run succeeds" env MODULARBASE_HOME="$H" "$MB" pack install -y "${TX[@]}"
    case " $pre " in
    " after-download "*) check_exit 1 "$point: before the journal: nothing to recover" grep -q "interrupted" "$T/err" ;;
    *" $point "*) check_grep "$point: recovery rolled back" "rolled back an interrupted 'install'" "$T/err" ;;
    *) check_grep "$point: recovery completed" "completed an interrupted 'install'" "$T/err" ;;
    esac
    store_snapshot "$H" >now.txt
    if cmp -s ref.txt now.txt; then ok "$point: converged to the reference state"; else
        not_ok "$point: differs from the reference"
        diff ref.txt now.txt | head -10
    fi
    check_converged "$point: no leftovers" "$H"
    rm -rf "$H"
done

# Removal transactions too.
for point in after-journal state-written after-commit after-remove; do
    H="$T/hr"
    rm -rf "$H"
    cp -a "$T/ref" "$H"
    store_snapshot "$H" >rb.txt
    MODULARBASE_HOME="$H" MB_FAULT="$point" "$MB" pack remove -y medical >/dev/null 2>&1
    check_eq "remove, $point: killed" "$?" 137
    if [ "$point" = after-journal ] || [ "$point" = state-written ]; then
        store_snapshot "$H" >now.txt
        check "remove, $point: previous state intact" cmp rb.txt now.txt
    fi
    if [ "$point" = after-journal ] || [ "$point" = state-written ]; then
        check "remove, $point: next run" env MODULARBASE_HOME="$H" "$MB" pack remove -y medical
        check_grep "remove, $point: medical removed on the rerun" "^removed +medical" "$T/out"
    else
        check_exit 4 "remove, $point: next run" env MODULARBASE_HOME="$H" "$MB" pack remove -y medical
        check_grep "remove, $point: already gone" "'medical' is not installed" "$T/err"
    fi
    MODULARBASE_HOME="$H" "$MB" pack list --json >l.json
    check "remove, $point: base and physiology are left" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert [p["id"] for p in d]==["base","physiology"], d' l.json
    check_converged "remove, $point: no leftovers" "$H"
done

# Ctrl-C (SIGINT) while unpacking: a clean rollback with exit 130.
H="$T/hi"
cp -a "$T/h0" "$H"
MODULARBASE_HOME="$H" MB_FAULT="stop:during-unpack" "$MB" pack install -y "${TX[@]}" >/dev/null 2>"$T/err" &
pid=$!
for _ in $(seq 100); do
    [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && break
    sleep 0.1
done
kill -INT "$pid"
kill -CONT "$pid"
wait "$pid"
check_eq "SIGINT: exit 130" "$?" 130
check_grep "SIGINT: says nothing changed" "interrupted" "$T/err"
store_snapshot "$H" >now.txt
check "SIGINT: previous state intact" cmp before.txt now.txt
check_converged "SIGINT: rolled back cleanly" "$H"
finish
