# lib.sh - shared helpers for the shell integration tests (git's test-lib, small).
# Source it first: it sets $MB (the binary under test), a private temporary
# directory $T (removed at exit), and MODULARBASE_HOME inside it, and provides
# checks that count passes and failures; end every test with `finish`.
set -uo pipefail

MB=${MB_BIN:?MB_BIN must point at the modularbase binary (run through ctest)}
SRC=${MB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DATA=${MB_TEST_DATA:-$SRC/tests/data}
T=$(mktemp -d "${TMPDIR:-/tmp}/mbit.XXXXXX")
export MODULARBASE_HOME="$T/home"
export NO_COLOR=1
_pass=0
_fail=0
_cleanup_hooks=()

at_exit() { _cleanup_hooks+=("$1"); }
_cleanup() {
    local h
    for h in "${_cleanup_hooks[@]+"${_cleanup_hooks[@]}"}"; do eval "$h" || true; done
    [ -n "${MB_KEEP_TMP:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT

ok() { _pass=$((_pass + 1)); echo "ok - $1"; }
not_ok() { _fail=$((_fail + 1)); echo "not ok - $1"; }

# check DESC CMD...: CMD must exit 0.
check() {
    local desc=$1
    shift
    if "$@" >"$T/out" 2>"$T/err"; then ok "$desc"; else
        not_ok "$desc (exit $?)"
        sed 's/^/    stdout: /' "$T/out" | head -20
        sed 's/^/    stderr: /' "$T/err" | head -20
    fi
}

# check_exit CODE DESC CMD...: CMD must exit with CODE; stdout/stderr kept in $T/out, $T/err.
check_exit() {
    local want=$1 desc=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" = "$want" ]; then ok "$desc"; else
        not_ok "$desc (exit $got, wanted $want)"
        sed 's/^/    stdout: /' "$T/out" | head -20
        sed 's/^/    stderr: /' "$T/err" | head -20
    fi
}

# check_grep DESC PATTERN FILE: FILE must contain the (extended) regex PATTERN.
check_grep() {
    if grep -qE -- "$2" "$3"; then ok "$1"; else
        not_ok "$1 (no '$2' in $(basename "$3"))"
        sed 's/^/    | /' "$3" | head -20
    fi
}

# check_eq DESC GOT WANT
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', wanted '$3')"; fi
}

# The real model (skip with 77 unless MB_REQUIRE_MODEL=1).
need_model() {
    MODEL=${MB_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf}
    if [ ! -f "$MODEL" ]; then
        if [ "${MB_REQUIRE_MODEL:-}" = 1 ]; then
            echo "the real model is required but missing at $MODEL" >&2
            exit 1
        fi
        echo "skipped: model not fetched ($MODEL); run scripts/fetch-model.sh"
        exit 77
    fi
}

finish() {
    echo "$_pass passed, $_fail failed"
    [ "$_fail" = 0 ]
    exit $?
}
