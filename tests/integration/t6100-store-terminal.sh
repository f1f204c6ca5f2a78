# t6100-store-terminal.sh - what a person at a terminal sees (script(1) gives
# the command a pty): pack install prints the plan and asks "Continue? [Y/n]";
# "n" aborts with nothing changed, "y" (and an empty answer) goes on; -y never
# asks; without a terminal on stdin it never asks; pack remove asks the same
# way. Also pack verify naming a file deleted from an installed pack.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
command -v script >/dev/null || {
    echo "skipped: script(1) not installed"
    exit 77
}
cd "$T"
H=$MODULARBASE_HOME

B1=$(mkpack pk base 1.0.0 --kind base)
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --dep "anatomy@^1")

# on_tty ANSWER CMD: run CMD on a pseudo-terminal, typing ANSWER (a line) when
# asked; the terminal's output goes to tty.out, the exit status is returned.
on_tty() {
    local answer=$1
    shift
    local q
    printf -v q '%q ' "$@"
    { sleep 1; printf '%s\n' "$answer"; sleep 2; } |
        script -qec "$q; echo \"[exit \$?]\"" /dev/null >tty.out 2>&1
    sed -n 's/.*\[exit \([0-9]*\)\].*/\1/p' tty.out | tail -1
}

# --- "n": the plan is shown, nothing changes
check_eq "answering n: exit 1" "$(on_tty n "$MB" pack install "$B1")" 1
check_grep "the plan was shown" "will be installed" tty.out
check_grep "the question was asked" "Continue\? \[Y/n\]" tty.out
check_grep "says nothing changed" "aborted; nothing was changed" tty.out
check_exit 1 "no state.json" test -e "$H/state.json"
check_exit 1 "no world" test -e "$H/world"
check "pack list still empty" "$MB" pack list --json
check_eq "empty list" "$(tr -d ' \n' <"$T/out")" '{"packs":[]}'

# --- "y": installed
check_eq "answering y: exit 0" "$(on_tty y "$MB" pack install "$B1")" 0
check_grep "the question was asked" "Continue\? \[Y/n\]" tty.out
check_grep "installed" "installed +base 1\.0\.0" tty.out
check "base is listed" "$MB" pack info base

# --- an empty answer means yes (the default)
check_eq "answering Enter: exit 0" "$(on_tty "" "$MB" pack install "$A1")" 0
check_grep "installed" "installed +anatomy 1\.0\.0" tty.out

# --- -y never asks, even on a terminal
check_eq "-y on a terminal: exit 0" "$(on_tty n "$MB" pack install -y "$M1")" 0
check_exit 1 "-y: no question" grep -q "Continue?" tty.out
check_grep "-y: installed" "installed +medical 1\.0\.0" tty.out

# --- no terminal on stdin: never asks (the tests above and below rely on it)
check "remove medical without a terminal" "$MB" pack remove medical </dev/null
check_exit 1 "no question without a terminal" grep -q "Continue?" "$T/err"

# --- remove on a terminal asks too, and "n" keeps the pack
check "reinstall medical" "$MB" pack install "$M1"
check_eq "remove, answering n: exit 1" "$(on_tty n "$MB" pack remove medical)" 1
check_grep "remove asked" "Continue\? \[Y/n\]" tty.out
check "medical is still installed" "$MB" pack info medical

# --- verify: a deleted file is reported missing
dir=$("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
p = [p for p in s["packs"] if p["id"] == "medical"][0]
print(p.get("path") or "%s/packs/medical/%s" % (sys.argv[2], p["version"]))' "$H/state.json" "$H")
check "the pack directory exists ($dir)" test -d "$dir"
check "verify passes" "$MB" pack verify medical
victim=$(cd "$dir" && find . -type f -name '*.gguf' | head -1)
check "a GGUF is installed" test -n "$victim"
rm -f "$dir/$victim"
check_exit 5 "verify detects the deleted file" "$MB" pack verify medical
cat "$T/out" "$T/err" >verify.txt
check_grep "names it as missing" "missing.*${victim#./}|${victim#./}.*missing" verify.txt
finish
