# t7032-router-explain.sh - the whole routing chain through the store: five
# data packs built with `pack build --base` (keys in their archives), installed
# with the imported base, general and router packs; `router explain` routes the
# 150 held-out prompts with the packs' own keys (raw space), then, after
# `router fit`, in the fitted space; the general pack is always in the
# decision and weights sum to 1; a pack the fit does not know makes the router
# fall back to the packs' keys with a note; errors.
. "$(dirname "$0")/lib.sh"
need_model
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
cd "$T"
RD="$DATA/routing"
MKGGUF="$SRC/tests/integration/helpers/make_pack_gguf.py"

check_exit 4 "no base installed" "$MB" router explain "hello"
check "pack import" "$MB" pack import "$MODEL" -o imp
mkdir -p dist
mkpack() { # id examples-file
    mkdir -p "p/$1"
    "$PY" - "$2" "$1" >"p/$1/pack.yaml" <<'EOF'
import json, sys
path, pid = sys.argv[1], sys.argv[2]
print(f'id: {pid}\nname: {pid}\nversion: 1.0.0\nkind: data\ndomain: {pid}\nbase_compatibility: ["1.0"]')
print(f'weights:\n  file: {pid}.gguf\nrouting:\n  examples:')
for line in open(path).read().splitlines():
    print("    - " + json.dumps(line))
EOF
    "$PY" "$MKGGUF" "p/$1/$1.gguf" --id "$1" --version 1.0.0
    "$MB" pack build "p/$1" -o dist --base imp/base >/dev/null || not_ok "build $1"
}
for f in "$RD"/examples/*.txt; do mkpack "$(basename "$f" .txt)" "$f"; done
for d in base general router; do "$MB" pack build "imp/$d" -o dist >/dev/null || not_ok "build $d"; done
check "install" "$MB" pack install dist/*.mbpack

grep -v '^#' "$RD/eval.tsv" | cut -f2 >prompts.txt
grep -v '^#' "$RD/eval.tsv" | cut -f1 >labels.txt
score() { # file min-accuracy space
    "$PY" - "$1" labels.txt "$2" "$3" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
labels = open(sys.argv[2]).read().split()
assert len(rows) == len(labels) == 150, (len(rows), len(labels))
ok = sum(r["best"] == l for r, l in zip(rows, labels))
for r in rows:
    assert r["space"] == sys.argv[4], r
    ids = [d["id"] for d in r["decision"]]
    assert "general" in ids, r
    assert abs(sum(d["weight"] for d in r["decision"]) - 1) < 1e-3, r
    w = [d["weight"] for d in r["decision"]]
    assert w == sorted(w, reverse=True), r
print(f"{sys.argv[4]}: top-1 {ok / len(rows):.3f}")
assert ok / len(rows) >= float(sys.argv[3])
EOF
}
check "explain, packs' own keys" "$MB" router explain --json <prompts.txt
cp "$T/out" raw.json
check "raw space: top-1 >= 0.80, general always there" score raw.json 0.80 raw
cat "$T/out"
check "explain one prompt" "$MB" router explain "How do I reverse a list in Python?"
check_grep "one line, python first, general in it" "^python [01]\.[0-9]{2}(, [a-z0-9-]+ [01]\.[0-9]{2})*$" "$T/out"
check_grep "general in it" ", general [01]\.[0-9]{2}" "$T/out"

check "router fit" "$MB" router fit
check "explain after fit" "$MB" router explain --json <prompts.txt
cp "$T/out" fit.json
check "fitted space: top-1 >= 0.90" score fit.json 0.90 fit
cat "$T/out"
check "--no-fit" "$MB" router explain --json --no-fit "Can I sue my landlord?"
check_grep "raw space" '"space": "raw"' "$T/out"
check_exit 2 "--fit with --no-fit" "$MB" router explain --fit x --no-fit "a"
check_exit 4 "--fit FILE missing" "$MB" router explain --fit nowhere.gguf "a"

# A new pack the fit does not know: routing falls back to the packs' keys, with a note.
mkpack python2 "$RD/examples/python.txt"
check "install python2" "$MB" pack install dist/python2-1.0.0.mbpack
check "explain with a stale fit" "$MB" router explain --json "How do I reverse a list in Python?"
check_grep "falls back to raw keys" '"space": "raw"' "$T/out"
check_grep "notes why" "router fit ignored: pack 'python2' 1.0.0 is not in it" "$T/err"
check "refit" "$MB" router fit
check "explain after refit" "$MB" router explain --json "How do I reverse a list in Python?"
check_grep "fitted again" '"space": "fit"' "$T/out"
check "installed packs still verify" "$MB" pack verify
finish
