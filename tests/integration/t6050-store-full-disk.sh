# t6050-store-full-disk.sh - a store on a small tmpfs (mounted in a private
# mount namespace: unshare -rm): an install that cannot fit is refused before
# anything is written ("no space left on ...", exit 9); a disk that fills up
# while a pack is being unpacked (another process fills it while the install
# is stopped by the MB_FAULT hook, test-hooks builds only) gives a clear
# "no space left on device" error, the previous state intact and no
# leftovers; after freeing space the same install completes.
if [ -z "${MB_IN_NS:-}" ]; then
    if ! unshare -rm true 2>/dev/null; then
        echo "skipped: cannot create a mount namespace (unshare -rm)"
        exit 77
    fi
    exec unshare -rm env MB_IN_NS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"
mkdir mnt
mount -t tmpfs -o size=8m tmpfs "$T/mnt" || { echo "skipped: cannot mount a tmpfs"; exit 77; }
at_exit "umount '$T/mnt'"
export MODULARBASE_HOME="$T/mnt/home"
H=$MODULARBASE_HOME

B1=$(mkpack pk base 1.0.0 --kind base)
M1=$(mkpack pk medical 1.0.0 --compat "^1" --mb 4)
check "install the base on the small disk" "$MB" pack install -y "$B1"
store_snapshot "$H" >before.txt

# --- refused before anything is written
dd if=/dev/zero of="$T/mnt/filler" bs=1M count=5 2>/dev/null
check_exit 9 "an install that cannot fit" "$MB" pack install -y "$M1"
check_grep "says no space left and the sizes" "no space left on the device of '$H': the packs need 4.0 MiB unpacked, [0-9.]+ [KM]iB is available" "$T/err"
store_snapshot "$H" >now.txt
check "previous state intact" cmp before.txt now.txt
check_converged "no leftovers" "$H"
rm "$T/mnt/filler"
check "after freeing space it installs" "$MB" pack install -y "$M1"
check_converged "consistent" "$H"
check "remove it again" "$MB" pack remove -y medical

if [ "${MB_TEST_HOOKS:-0}" != 1 ]; then
    echo "# the mid-unpack case needs -DMB_TEST_HOOKS=ON; skipped here"
    finish
fi

# --- the disk fills up mid-unpack
store_snapshot "$H" >before.txt
MB_FAULT=stop:after-journal "$MB" pack install -y "$M1" >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 200); do
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ] && break
    sleep 0.05
done
# Another process takes the space the install counted on, leaving about 1 MiB.
free_kb=$(df -k --output=avail "$T/mnt" | tail -1)
dd if=/dev/zero of="$T/mnt/filler" bs=1K count=$((free_kb - 1024)) 2>/dev/null
kill -CONT "$pid"
wait "$pid"
check_eq "the install fails with exit 9" "$?" 9
check_grep "no space left on device while unpacking, naming the pack" "no space left on device while unpacking 'medical' 1.0.0" "$T/err"
check_grep "says nothing was changed" "nothing was changed" "$T/err"
store_snapshot "$H" >now.txt
check "previous state intact" cmp before.txt now.txt
check_converged "no leftovers in packs/ or staging/" "$H"
rm "$T/mnt/filler"
check "after freeing space the same install completes" "$MB" pack install -y "$M1"
check_grep "installed" "^installed +medical 1.0.0" "$T/out"
check_converged "consistent" "$H"
finish
