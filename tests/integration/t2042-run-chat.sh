#!/usr/bin/env bash
# t2042-run-chat.sh - `modularbase run` and `modularbase chat` on the real model, through
# the binary: greedy output is deterministic, --seed reproduces a sampled answer, -p -
# reads stdin, -n and --stop end generation, --raw completes text, --verbose reports
# speeds; chat over a pipe keeps the history across turns (only the new turn is
# evaluated), /reset forgets it (the same question then gets the same greedy answer),
# /help, unknown commands and /bye behave, and nothing but answers reaches stdout.
. "$(dirname "$0")/lib.sh"
need_model

N=24
[ "${MB_SANITIZE:-}" = 1 ] || [ "${MB_SANITIZE:-}" = ON ] && N=8

# --- run -------------------------------------------------------------------------------
check "run answers a question (greedy)" "$MB" run -m "$MODEL" -p "What is the capital of France?" --temp 0 -n $N
cp "$T/out" "$T/a1"
check_grep "run printed an answer" '[A-Za-z]' "$T/a1"
check "run greedy again" "$MB" run -m "$MODEL" -p "What is the capital of France?" --temp 0 -n $N
check_eq "greedy output is deterministic" "$(cat "$T/out")" "$(cat "$T/a1")"
check "the same with 1 thread" "$MB" run -m "$MODEL" -p "What is the capital of France?" --temp 0 -n $N -t 1
check_eq "greedy output does not depend on the thread count" "$(cat "$T/out")" "$(cat "$T/a1")"

printf 'What is the capital of France?\n' >"$T/q"
check "run -p - reads the prompt from stdin" bash -c "'$MB' run -m '$MODEL' -p - --temp 0 -n $N <'$T/q'"
check_eq "stdin prompt (trailing newline dropped) gives the same answer" "$(cat "$T/out")" "$(cat "$T/a1")"

check "run with --seed 7" "$MB" run -m "$MODEL" -p "Tell me a story." --seed 7 --temp 1.0 -n $N
cp "$T/out" "$T/s7"
check "run with --seed 7 again" "$MB" run -m "$MODEL" -p "Tell me a story." --seed 7 --temp 1.0 -n $N
check_eq "--seed reproduces a sampled answer" "$(cat "$T/out")" "$(cat "$T/s7")"
differs=0
for seed in 8 9 10; do
    "$MB" run -m "$MODEL" -p "Tell me a story." --seed $seed --temp 1.0 -n $N >"$T/sx" 2>/dev/null
    cmp -s "$T/sx" "$T/s7" || differs=1
done
check_eq "other seeds give other answers" "$differs" 1

check "run -n 3 --verbose" "$MB" run -m "$MODEL" -p "Count to ten." --temp 0 -n 3 --verbose
check_grep "--verbose reports prompt and generation speed" 'prompt: [0-9]+ tokens.*tokens/s \| generation: 3 tokens in .* tokens/s \(token limit\)' "$T/err"
check_grep "--verbose describes the model" 'llama, 30 blocks, width 576, 9/3 heads' "$T/err"
check_grep "--verbose names the chat template" 'chat template: chatml' "$T/err"

check "run --raw completes text" "$MB" run -m "$MODEL" --raw -p "The capital of France is" --temp 0 -n $N
check_grep "--raw continues the sentence" 'Paris' "$T/out"
check "run --raw with a --stop string" "$MB" run -m "$MODEL" --raw -p "1, 2, 3, 4," --temp 0 -n 40 --stop " 9"
check_grep "the text before the stop string is shown" '8,$' "$T/out"
if grep -q ' 9' "$T/out"; then not_ok "the stop string is not shown"; else ok "the stop string is not shown"; fi
check "run --ignore-eos -n $N (benchmark mode)" "$MB" run -m "$MODEL" -p "Hi" --temp 0 -n $N --ignore-eos --verbose
check_grep "--ignore-eos generates exactly -n tokens" "generation: $N tokens" "$T/err"
check "run --system" "$MB" run -m "$MODEL" -p "Who are you?" --system "You are a pirate." --temp 0 -n $N
check "run --template chatml" "$MB" run -m "$MODEL" -p "Hi" --template chatml --temp 0 -n 4
check "run --kv-type f32" "$MB" run -m "$MODEL" -p "Hi" --kv-type f32 --temp 0 -n 4
check "run -n 0 only evaluates the prompt" "$MB" run -m "$MODEL" -p "Hi" -n 0
check_eq "-n 0 prints nothing" "$(cat "$T/out")" ""

# --- chat over a pipe --------------------------------------------------------------------
printf 'What is the capital of France?\nAnd of Germany?\n/reset\nWhat is the capital of France?\n' >"$T/chat1"
check "chat over a pipe, three turns and a /reset" bash -c "'$MB' chat -m '$MODEL' --temp 0 -n $N --verbose <'$T/chat1'"
cp "$T/out" "$T/c1"
cp "$T/err" "$T/c1err"
check_eq "three answers, only answers on stdout" "$(grep -c 'generation:' "$T/c1err")" 3
check_eq "the first answer equals run's" "$(head -n "$(wc -l <"$T/a1")" "$T/c1")" "$(cat "$T/a1")"
# turn 2 re-renders the conversation but evaluates only the new part
turn2=$(sed -n 2p <(grep 'prompt:' "$T/c1err"))
total=$(sed -E 's/prompt: ([0-9]+) tokens \(([0-9]+) evaluated\).*/\1/' <<<"$turn2")
evald=$(sed -E 's/prompt: ([0-9]+) tokens \(([0-9]+) evaluated\).*/\2/' <<<"$turn2")
if [ -n "$total" ] && [ "$evald" -lt "$total" ] && [ "$evald" -gt 0 ]; then
    ok "the second turn reuses the cached history ($evald of $total prompt tokens evaluated)"
else
    not_ok "the second turn reuses the cached history ($turn2)"
fi
first_total=$(sed -n 1p <(grep 'prompt:' "$T/c1err") | sed -E 's/prompt: ([0-9]+) tokens.*/\1/')
if [ "$total" -gt "$first_total" ]; then ok "the second turn's prompt holds the first turn"; else
    not_ok "the second turn's prompt holds the first turn ($total <= $first_total)"; fi
third=$(sed -n 3p <(grep 'prompt:' "$T/c1err") | sed -E 's/prompt: ([0-9]+) tokens.*/\1/')
check_eq "after /reset the prompt is the first turn's again" "$third" "$first_total"
# answers are separated by newlines; after /reset the same question gets the same answer
lines=$(wc -l <"$T/a1")
check_eq "after /reset the same question gets the same greedy answer" \
    "$(tail -n "$lines" "$T/c1")" "$(cat "$T/a1")"

printf '/help\n/nonsense\nHello\n/bye\nThis line is never answered\n' >"$T/chat2"
check "chat: /help, an unknown command, a turn, /bye" bash -c "'$MB' chat -m '$MODEL' --temp 0 -n 4 --verbose <'$T/chat2'"
check_grep "/help lists the commands" '/reset' "$T/out"
check_grep "an unknown command is a warning" "unknown command '/nonsense'" "$T/err"
check_eq "/bye ends the chat (one answer)" "$(grep -c 'generation:' "$T/err")" 1

printf '\n\n//etc is a directory\n' >"$T/chat3"
check "chat: blank lines are skipped, // sends a slash" bash -c "'$MB' chat -m '$MODEL' --temp 0 -n 4 --verbose <'$T/chat3'"
check_eq "one answer" "$(grep -c 'generation:' "$T/err")" 1

check "chat with --system and a small context drops old turns" bash -c \
    "yes 'Tell me something about the sea.' | head -n 6 | '$MB' chat -m '$MODEL' --temp 0 -n 16 --ctx 160 --system 'Be brief.'"
check_grep "a note says old turns were dropped" 'dropped the [0-9]+ oldest turn' "$T/err"

check "chat with an empty stdin ends at once" bash -c "'$MB' chat -m '$MODEL' </dev/null"
check_eq "and prints nothing" "$(cat "$T/out")" ""

# --- eval logits --------------------------------------------------------------------------
check "eval logits batched" "$MB" eval logits -m "$MODEL" --top 3 "The capital of France is"
cp "$T/out" "$T/e1"
check "eval logits one token at a time" "$MB" eval logits -m "$MODEL" --top 3 --sequential "The capital of France is"
python3 - "$T/e1" "$T/out" <<'EOF' && ok "batched and sequential evaluation agree (top-3 ids, logits within 2.0)" || not_ok "batched and sequential evaluation agree"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["tokens"] == b["tokens"]
for x, y in zip(a["top"], b["top"]):
    assert x[0][0] == y[0][0] or abs(x[0][1] - x[1][1]) < 4.0, (x, y)
    assert abs(x[0][1] - y[0][1]) < 2.0 or x[0][0] != y[0][0], (x, y)
EOF
finish
