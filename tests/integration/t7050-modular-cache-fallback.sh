#!/usr/bin/env bash
# t7050-modular-cache-fallback.sh - the pack cache and the fallback walk through `chat` on
# the real model. Five data packs are installed (general, resident, and python, cooking,
# law: the general weights under other ids, with routing keys from `pack build --base`).
# With a --mem-budget that holds the base, the general pack and only two of the three
# others, a chat routed python, cooking, law, python evicts least-recently-used packs and
# reloads python, whose answer after /reset is the same as the first time; the status
# file of the run shows the evictions and the pinned general pack. A budget below base +
# residents is a clear error. Fallback: a pack whose GGUF is missing, one that is
# corrupt, one whose base_compatibility excludes the base: each falls back to general with
# a one-line warning and the general pack's answer; nothing crashes.
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
for id in python cooking law; do
    "$MB" pack import "$MODEL" --general-id "$id" -o "imp-$id" >/dev/null 2>&1
    "$PY" - "$RD/examples/$id.txt" "$id" "imp-$id/general/pack.yaml" <<'PYEOF'
import json, sys
path, pid, yaml = sys.argv[1:4]
text = open(yaml, encoding="utf-8").read().replace("domain: general", f"domain: {pid}")
text = text.replace("resident: true", "resident: false")
text += "fallback:\n  - general\nrouting:\n  examples:\n" + "".join(
    "    - " + json.dumps(l) + "\n" for l in open(path, encoding="utf-8").read().splitlines() if l.strip())
open(yaml, "w", encoding="utf-8").write(text)
PYEOF
    check "pack build --base $id" "$MB" pack build "imp-$id/general" --base imp/base -o arch
done
check "install six packs" "$MB" pack install arch/*.mbpack

# Budget: base + KV + general + two on-demand packs (each GGUF + its KV at --ctx 256).
G=$(stat -c %s imp/general/general.gguf)
B=$(stat -c %s imp/base/base.gguf)
BUDGET=$((B + 3 * G + 3 * G / 10 + 8000000))
cat >conv <<'EOF2'
How do I reverse a list in Python without modifying the original list?
/reset
How long should I roast a whole chicken in the oven, and at what temperature?
/reset
What is the difference between a contract and an agreement in law?
/reset
How do I reverse a list in Python without modifying the original list?
EOF2
check "chat under a budget for two on-demand packs" bash -c \
    "'$MB' chat --temp 0 -n 12 --ctx 256 --mem-budget $BUDGET --verbose <conv"
cp "$T/out" answers
cp "$T/err" log
check_eq "routed python, cooking, law, python" \
    "$(grep '^packs:' log | cut -d' ' -f2 | tr '\n' ' ')" "python cooking law python "
check_eq "python answers the same after being evicted and reloaded" \
    "$(sed -n 1p answers)" "$(sed -n 4p answers)"
ST="$MODULARBASE_HOME/run/status"
check "the run wrote its status file" test -s "$ST"
check_grep "general stays resident (pinned)" '^pack general resident 1 ' "$ST"
# fields: pack ID STATE RESIDENT BYTES LAST_USED HITS MISSES LOADS EVICTIONS PRELOADS
check_eq "python loaded twice, evicted once" "$(awk '$2=="python"{print $9, $10}' "$ST")" "2 1"
check_eq "cooking evicted (least recently used when python came back)" \
    "$(awk '$2=="cooking"{print $3, $10}' "$ST")" "on-disk 1"
check_eq "law still loaded" "$(awk '$2=="law"{print $3}' "$ST")" "loaded"
check "status reads it" "$MB" status --json
check_exit 3 "a budget below base + residents is refused" bash -c \
    "'$MB' chat --temp 0 --ctx 256 --mem-budget 50M </dev/null"
check_grep "naming the budget" 'mem-budget' "$T/err"

# Fallback. The general pack's answer to the reference question:
Q="What is the capital of France?"
printf '%s\n' "$Q" >q
"$MB" chat --temp 0 -n 12 --pack general <q >general.out 2>/dev/null
inst() { ls -d "$MODULARBASE_HOME"/packs/"$1"/*/; }
fallback_case() { # fallback_case ID REASON
    check "chat --pack $1 ($2) still answers" bash -c "'$MB' chat --temp 0 -n 12 --pack $1 <q"
    check_eq "$1: the general pack's answer" "$(cat "$T/out")" "$(cat general.out)"
    check_eq "$1: one warning line" "$(grep -c '^warning: ' "$T/err")" 1
    check_grep "$1: the warning says $2 and names general" "^warning: .*'$1'.*$2.*'general'" "$T/err"
}
rm "$(inst python)python.gguf" 2>/dev/null || rm "$(inst python)"*.gguf
fallback_case python missing
f=$(ls "$(inst cooking)"*.gguf)
head -c 4096 "$f" >"$f.tmp" && mv "$f.tmp" "$f"
fallback_case cooking corrupt
sed -i 's/^  - "1.0"$/  - "2.0"/' "$(inst law)pack.yaml"
fallback_case law incompatible
finish
