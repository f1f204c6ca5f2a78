#!/usr/bin/env bash
# t7040-modular-routing-chat.sh - `chat` routes each message over the installed packs:
# the real model split by `pack import`, two more data packs (python, cooking: the general
# weights under other ids, with routing.examples from tests/data/routing/examples/) built
# with `pack build --base` (routing keys), everything installed into a fresh store. A
# Python question goes to the python pack, a cooking question to the cooking pack, with
# the general pack beside them (--verbose prints "packs: python 0.xx, general 0.yy"); after
# `router fit` the fitted projection is used and routes the same way; --pack forces a pack.
. "$(dirname "$0")/lib.sh"
need_model
PY=${PYTHON:-python3}
RD="$DATA/routing"
cd "$T"

check "pack import" "$MB" pack import "$MODEL" -o imp
mkdir -p arch
for p in base general router; do
    check "pack build $p" "$MB" pack build "imp/$p" -o arch
done
for id in python cooking; do
    check "pack import --general-id $id" "$MB" pack import "$MODEL" --general-id "$id" -o "imp-$id"
    "$PY" - "$RD/examples/$id.txt" "$id" "imp-$id/general/pack.yaml" <<'PYEOF'
import json, sys
path, pid, yaml = sys.argv[1:4]
text = open(yaml, encoding="utf-8").read().replace("domain: general", f"domain: {pid}")
text += "routing:\n  examples:\n" + "".join(
    "    - " + json.dumps(l) + "\n" for l in open(path, encoding="utf-8").read().splitlines() if l.strip())
open(yaml, "w", encoding="utf-8").write(text)
PYEOF
    check "pack build --base (routing keys) $id" "$MB" pack build "imp-$id/general" --base imp/base -o arch
done
check "install the five packs" "$MB" pack install arch/*.mbpack
check "pack verify stays clean" "$MB" pack verify

ask() { # ask QUESTION [OPTIONS...]: one greedy turn, decision in $T/err
    local q=$1
    shift
    printf '%s\n' "$q" | "$MB" chat --temp 0 -n 4 --verbose "$@" >"$T/out" 2>"$T/err"
}
ask "How do I reverse a list in Python without modifying the original list?"
check_grep "routing over the installed packs' keys" '^routing: 3 data packs, raw h_u keys' "$T/err"
check_grep "a Python question goes to the python pack first" '^packs: python [01]\.[0-9]+, general [01]\.[0-9]+$' "$T/err"
check_grep "and an answer is printed" '[A-Za-z]' "$T/out"
ask "How long should I roast a whole chicken in the oven, and at what temperature?"
check_grep "a cooking question goes to the cooking pack first" '^packs: cooking [01]\.[0-9]+' "$T/err"
printf 'Write a Python function that sorts a list of tuples by the second element\nHow do I make a fluffy pancake batter?\n' >two
"$MB" chat --temp 0 -n 4 --verbose <two >"$T/out" 2>"$T/err"
check_eq "each turn is routed on its own" "$(grep '^packs:' "$T/err" | cut -d' ' -f2 | tr '\n' ' ')" "python cooking "

check "router fit over the installed packs" "$MB" router fit
check "the fit is stored in the store" test -s "$MODULARBASE_HOME/router/fit.gguf"
ask "What is a list comprehension in Python and when should I use one?"
check_grep "the fitted projection is used" '^routing: 3 data packs, fitted projection' "$T/err"
check_grep "and routes to python" '^packs: python ' "$T/err"
ask "How long should I roast a whole chicken in the oven, and at what temperature?" --pack general
check_grep "--pack forces the pack" '^packs: general \(forced\)$' "$T/err"
check "pack verify still clean after router fit" "$MB" pack verify
finish
