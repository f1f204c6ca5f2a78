# t0012-help.sh - every command in the table answers --help with a usage line
# and exit 0 (git's t0012); unknown commands, subcommands and options get a
# clear error, exit 2 and a "did you mean" suggestion.
. "$(dirname "$0")/lib.sh"

count=0
while IFS= read -r cmd; do
    # shellcheck disable=SC2086
    check "'$cmd --help' exits 0" "$MB" $cmd --help
    check_grep "'$cmd --help' prints usage" "^usage: modularbase" "$T/out"
    count=$((count + 1))
done < <("$MB" help --list)
[ "$count" -gt 0 ] && ok "the command table lists $count commands" || not_ok "empty command table"

check "--help lists commands" "$MB" --help
check_grep "--help mentions version" "version" "$T/out"
check "--version" "$MB" --version
check_grep "--version prints the version" "^modularbase [0-9]+\.[0-9]+\.[0-9]+" "$T/out"

check_exit 2 "unknown command exits 2" "$MB" verson
check_grep "unknown command is named" "'verson' is not a modularbase command" "$T/err"
check_grep "did you mean a close command" "version" "$T/err"
check_exit 2 "unknown option exits 2" "$MB" version --jsn
check_grep "did you mean a close option" "did you mean '--json'" "$T/err"
check_exit 2 "no command prints usage and exits 2" "$MB"
check_grep "usage on stderr" "^usage:" "$T/err"
check_exit 2 "unknown global option" "$MB" --frobnicate
check "help COMMAND is COMMAND --help" "$MB" help version
check_grep "help version shows its usage" "usage: modularbase version" "$T/out"
finish
