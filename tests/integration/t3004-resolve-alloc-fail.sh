# t3004-resolve-alloc-fail.sh - curl-style torture: with allocation fault
# injection (MB_DEBUG_ALLOC builds), make the Nth allocation fail for every N
# of a `resolve` and a `semver` run and check that each run ends cleanly: exit
# 0 (the failing allocation was not needed), 7 or 10 (out of memory) with an
# error message, never a crash or a sanitizer report. Skipped (77) in builds
# without fault injection.
. "$(dirname "$0")/lib.sh"

REG="$DATA/registry-small"
MB_ALLOC_FAIL_AT=1 "$MB" semver 1.0.0 >/dev/null 2>&1
if [ $? = 0 ]; then
    echo "skipped: this build has no allocation fault injection (MB_DEBUG_ALLOC=OFF)"
    exit 77
fi

torture() { # desc max cmd...
    local desc=$1 max=$2 n rc bad=0 ran=0 nomem=0 base same=0
    shift 2
    "$@" >/dev/null 2>&1
    base=$? # the exit status without fault injection
    for ((n = 1; n <= max; n++)); do
        MB_ALLOC_FAIL_AT=$n "$@" >"$T/out" 2>"$T/err"
        rc=$?
        ran=$((ran + 1))
        case $rc in
        0 | 7) ;;
        10) nomem=$((nomem + 1))
            grep -q "^error: .*out of memory\|^error: .*memory" "$T/err" || { bad=$((bad + 1)); echo "  N=$n: exit 10 without a message"; } ;;
        *) bad=$((bad + 1)); echo "  N=$n: exit $rc"; sed 's/^/    /' "$T/err" | head -5 ;;
        esac
        if grep -q "Sanitizer" "$T/err"; then
            bad=$((bad + 1))
            echo "  N=$n: sanitizer report"
            sed 's/^/    /' "$T/err" | head -20
        fi
        # Past the last allocation every run ends as without faults: stop there.
        if [ $rc = "$base" ]; then same=$((same + 1)); else same=0; fi
        if [ $same -ge 30 ]; then break; fi
    done
    if [ $bad = 0 ] && [ $nomem -gt 0 ]; then ok "$desc ($ran runs, $nomem out-of-memory exits)"; else
        not_ok "$desc ($bad bad runs of $ran, $nomem out-of-memory exits)"
    fi
}
torture "resolve survives every failing allocation" 4000 \
    "$MB" resolve --index-dir "$REG" --json medical-en veterinary
torture "a failing resolve survives every failing allocation" 4000 \
    "$MB" resolve --index-dir "$REG" medical-en code-python@^2
torture "semver survives every failing allocation" 400 \
    "$MB" semver -r '^1.2 || 2.x' 1.2.3 2.0.0 3.0.0
finish
