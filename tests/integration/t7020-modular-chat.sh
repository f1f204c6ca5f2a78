#!/usr/bin/env bash
# t7020-modular-chat.sh - `chat` and `run` over the modular runtime, through the binary:
# pack import of the real model; `chat --packs DIR` (base + general, weight 1) answers a
# two-turn conversation exactly as `chat --model` on the unsplit file (greedy); the packs
# built and installed from .mbpack files into a fresh store, then `chat` and `run` with no
# --model run the installed base + general; --pack forces packs (a copy of general under
# another id, half and half, still answers); --verbose prints the decision per turn; and
# clear errors for a missing pack, an empty store, --model with --packs, a folder without
# a base.
. "$(dirname "$0")/lib.sh"
need_model

N=16
[ "${MB_SANITIZE:-}" = 1 ] || [ "${MB_SANITIZE:-}" = ON ] && N=6

check "pack import" "$MB" pack import "$MODEL" -o "$T/packs"
for p in base general router; do
    check_grep "$p/pack.yaml written" '^kind: ' "$T/packs/$p/pack.yaml"
done

printf 'What is the capital of France?\nAnd of Italy?\n' >"$T/q"
check "chat --model (unsplit)" bash -c "'$MB' chat -m '$MODEL' --temp 0 -n $N <'$T/q'"
cp "$T/out" "$T/ref"
check_grep "the unsplit model answers" '[A-Za-z]' "$T/ref"
check "chat --packs DIR" bash -c "'$MB' chat --packs '$T/packs' --temp 0 -n $N <'$T/q'"
check_eq "base + general answers exactly as the unsplit model" "$(cat "$T/out")" "$(cat "$T/ref")"

check "chat --packs --verbose" bash -c "'$MB' chat --packs '$T/packs' --temp 0 -n 4 --verbose <'$T/q'"
check_eq "--verbose prints the routing decision each turn" \
    "$(grep -c '^packs: general 1.00$' "$T/err")" 2

# A second data pack: general under another id, mixed half and half.
check "pack import --general-id general2" "$MB" pack import "$MODEL" --general-id general2 -o "$T/b"
cp -r "$T/b/general" "$T/packs/general2"
check "chat --pack general --pack general2:0.5 (weights 1 and 0.5)" \
    bash -c "'$MB' chat --packs '$T/packs' --pack general:0.5 --pack general2:0.5 --temp 0 -n $N <'$T/q'"
check_eq "two identical packs at 0.5 + 0.5 give the single pack's answer" "$(cat "$T/out")" "$(cat "$T/ref")"
check "chat --pack general2:2 (weight 2: a different model)" \
    bash -c "'$MB' chat --packs '$T/packs' --pack general2:2 --temp 0 -n $N <'$T/q'"
[ "$(cat "$T/out")" != "$(cat "$T/ref")" ] && ok "weights change the output" || not_ok "weights change the output"
rm -rf "$T/packs/general2"

# The installed store: build, install, chat and run with no --model.
mkdir -p "$T/out.d"
for p in base general router; do
    check "pack build $p" "$MB" pack build "$T/packs/$p" -o "$T/out.d"
done
check_exit 4 "chat with an empty store fails clearly" bash -c "'$MB' chat --temp 0 </dev/null"
check_grep "the message says what to install" 'no packs are installed' "$T/err"
check "pack install the three .mbpack files" "$MB" pack install "$T"/out.d/*.mbpack
check "chat with no --model runs the installed packs" bash -c "'$MB' chat --temp 0 -n $N <'$T/q'"
check_eq "installed base + general answer as the unsplit model" "$(cat "$T/out")" "$(cat "$T/ref")"
check "run with no --model" "$MB" run -p "What is the capital of France?" --temp 0 -n $N
"$MB" run -m "$MODEL" -p "What is the capital of France?" --temp 0 -n $N >"$T/runref" 2>/dev/null
check_eq "run over the installed packs = run -m" "$(cat "$T/out")" "$(cat "$T/runref")"

# Errors.
check_exit 4 "--pack with an unknown id" bash -c "'$MB' chat --packs '$T/packs' --pack nosuch --temp 0 </dev/null"
check_grep "names the pack" "no such pack" "$T/err"
check_exit 2 "--model with --packs is a usage error" "$MB" run -m "$MODEL" --packs "$T/packs" -p hi
check_exit 2 "a bad --pack weight is a usage error" "$MB" run --packs "$T/packs" --pack general:x -p hi
mkdir -p "$T/nobase" && cp -r "$T/packs/general" "$T/nobase/"
check_exit 4 "a folder without a base pack" "$MB" run --packs "$T/nobase" -p hi
check_grep "says there is no base" "no base pack" "$T/err"
finish
