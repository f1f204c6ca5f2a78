# t7030-router-accuracy.sh - routing measured on the real model: five data
# packs whose routing.examples come from tests/data/routing/examples/ (100
# prompts), a disjoint held-out set of 150 labelled prompts (eval.tsv). For a
# base split by `pack import` at U=4 (the default) and U=2, `router fit`
# reaches top-1 accuracy >= 0.90 on the held-out set, never does worse than
# routing without fit, and routing without fit stays above a floor (0.80).
# Also: the fit is written under $MODULARBASE_HOME/router/ (pack directories
# untouched), the installed-packs path (no --packs/--base), and errors.
. "$(dirname "$0")/lib.sh"
need_model
PY=${PYTHON:-python3}
cd "$T"
RD="$DATA/routing"

# Pack directories from the dataset (pack.yaml only: router fit needs no weights).
mkpacks() {
    local dir=$1 d id
    mkdir -p "$dir"
    for d in "$RD"/examples/*.txt; do
        id=$(basename "$d" .txt)
        mkdir -p "$dir/$id"
        "$PY" - "$d" "$id" >"$dir/$id/pack.yaml" <<'EOF'
import json, sys
path, pid = sys.argv[1], sys.argv[2]
print(f"id: {pid}\nname: {pid}\nversion: 1.0.0\nkind: data\ndomain: {pid}")
print('base_compatibility: ["1.0"]\nweights:\n  file: %s.gguf\nrouting:\n  examples:' % pid)
for line in open(path, encoding="utf-8").read().splitlines():
    if line.strip():
        print("    - " + json.dumps(line))
EOF
    done
}
mkpacks packs
check "dataset: 5 domains" test "$(ls packs | wc -l)" -eq 5
check "dataset: >= 200 prompts" test $(( $(cat "$RD"/examples/*.txt | wc -l) + $(grep -vc '^#' "$RD/eval.tsv") )) -ge 200
check "examples and eval are disjoint" "$PY" -c '
import glob, sys
ex = set(l for p in glob.glob(sys.argv[1] + "/examples/*.txt") for l in open(p).read().splitlines())
ev = set(l.split("\t", 1)[1] for l in open(sys.argv[1] + "/eval.tsv").read().splitlines() if l and not l.startswith("#"))
sys.exit(1 if ex & ev else 0)' "$RD"
sha_before=$(cat packs/*/pack.yaml | sha256sum)

# accuracy U: import a base with U understanding blocks, fit, check the figures.
accuracy() {
    local u=$1
    check "pack import U=$u" "$MB" pack import "$MODEL" -o "imp$u" --understanding "$u" --fusion 2
    check "router fit U=$u" "$MB" router fit --packs packs --base "imp$u/base" --eval "$RD/eval.tsv" --json
    cp "$T/out" "fit$u.json"
    check "U=$u: figures" "$PY" - "fit$u.json" "$u" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
u = int(sys.argv[2])
e = d["eval"]
print(f"U={u}: eval top-1 {e['accuracy_without_fit']:.3f} without fit, {e['accuracy']:.3f} with fit "
      f"({e['prompts']} prompts); train {d['train_accuracy']:.3f}")
assert d["understanding"] == u and d["dim"] == 576 and d["projected_dim"] == 4, d
assert d["examples"] == 100 and len(d["classes"]) == 5 and e["prompts"] == 150, d
assert e["accuracy"] >= 0.90, "fit below the 0.90 target"
assert e["accuracy"] >= e["accuracy_without_fit"], "fit made routing worse"
assert e["accuracy_without_fit"] >= 0.80, "routing without fit below the 0.80 floor"
assert d["similarity"]["own"] > d["similarity"]["best_other"] + 0.3, d["similarity"]
EOF
    cat "$T/out"
}
accuracy 4
accuracy 2

check "fit written under MODULARBASE_HOME/router" test -s "$MODULARBASE_HOME/router/fit.gguf"
check "fit file names the packs and base" "$MB" gguf inspect "$MODULARBASE_HOME/router/fit.gguf"
check_grep "packs listed" 'modularbase.router.packs.*"cooking", "law", "math", "medicine", "python"' "$T/out"
check_grep "base recorded" 'modularbase.routing.base.id +string +"smollm2-135m"' "$T/out"
check_eq "pack directories untouched" "$(cat packs/*/pack.yaml | sha256sum)" "$sha_before"
# Same inputs, same fit bytes.
check "router fit -o" "$MB" router fit --packs packs --base imp2/base -o again.gguf
check "fit is deterministic" cmp "$MODULARBASE_HOME/router/fit.gguf" again.gguf

# Errors.
mkdir one && cp -r packs/python one/
check_exit 2 "one pack is not enough" "$MB" router fit --packs one --base imp4/base
check_grep "says why" "at least two data packs" "$T/err"
printf 'astronomy\tHow far is the moon?\n' >bad.tsv
check_exit 3 "unknown label in --eval" "$MB" router fit --packs packs --base imp4/base --eval bad.tsv --no-save
check_grep "names file, line and label" "bad.tsv:1: label 'astronomy'" "$T/err"
printf 'python no tab here\n' >bad2.tsv
check_exit 3 "line without a tab" "$MB" router fit --packs packs --base imp4/base --eval bad2.tsv --no-save
check_exit 4 "--packs not a directory" "$MB" router fit --packs nowhere --base imp4/base
check_exit 4 "plain model needs --understanding" "$MB" router fit --packs packs --base "$MODEL" --no-save
check_grep "says to give U" "understanding_blocks.*give the number explicitly" "$T/err"
check_exit 2 "U must match the base pack" "$MB" router fit --packs packs --base imp4/base -u 3 --no-save
check_exit 2 "--shrinkage out of range" "$MB" router fit --packs packs --shrinkage 0
check_exit 4 "no installed base" "$MB" router fit --packs packs --no-save
check "plain model with -u" "$MB" router fit --packs packs --base "$MODEL" -u 4 --eval "$RD/eval.tsv" --no-save --json
cp "$T/out" plain4.json
check "unsplit model at U=4 routes like the U=4 base" "$PY" -c '
import json, sys
a = json.load(open(sys.argv[1]))["eval"]; b = json.loads(open(sys.argv[2]).read())["eval"]
assert a == b, (a, b)' fit4.json plain4.json

# The installed-packs path: install the base and the five data packs, fit with no options.
mkdir dist
for id in $(ls packs); do
    mkdir -p "inst/$id" && cp "packs/$id/pack.yaml" "inst/$id/"
    "$PY" "$SRC/tests/integration/helpers/make_pack_gguf.py" "inst/$id/$id.gguf" --id "$id" --version 1.0.0
    "$MB" pack build "inst/$id" -o dist >/dev/null || not_ok "build $id"
done
check "build the base" "$MB" pack build imp4/base -o dist
check "install base and packs" "$MB" pack install dist/*.mbpack
rm -f "$MODULARBASE_HOME/router/fit.gguf"
check "router fit over the installed packs" "$MB" router fit --json
cp "$T/out" installed.json
check "installed fit: 5 classes, 100 examples" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["classes"]) == 5 and d["examples"] == 100 and d["understanding"] == 4, d
assert d["output"].endswith("/router/fit.gguf"), d' installed.json
check "installed packs still verify" "$MB" pack verify
finish
