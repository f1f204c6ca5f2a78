# store.sh - helpers for the store tests (t6xxx); source after lib.sh.
#   mkpack OUTDIR ID VERSION [make_store_pack.py options]   build a real .mbpack, print its path
#   store_snapshot HOME > FILE    what readers see: pack list --json, the world, and the
#                                 sha256 of every file of the packs state.json names (the
#                                 install receipts hold times and are left out); with a
#                                 second argument "noworld", without the world file
#   check_converged DESC HOME     no journal, empty staging/, packs/ holds exactly state.json's
#                                 packs, every installed file matches (pack verify)
PY=${PYTHON:-python3}
"$PY" -c 'import gguf' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
MKPACK="$SRC/tests/integration/helpers/make_store_pack.py"

mkpack() {
    local out=$1
    shift
    "$PY" "$MKPACK" "$MB" "$out" "$@"
}

store_snapshot() {
    local home=$1
    MODULARBASE_HOME="$home" "$MB" pack list --json
    if [ "${2:-}" != noworld ]; then
        echo "--- world"
        cat "$home/world" 2>/dev/null
    fi
    echo "--- files"
    local dirs
    dirs=$("$PY" -c '
import json, sys
try:
    for p in json.load(open(sys.argv[1]))["packs"]:
        print(p["id"] + "/" + p["version"])
except FileNotFoundError:
    pass' "$home/state.json")
    [ -n "$dirs" ] || return 0
    # shellcheck disable=SC2086
    (cd "$home/packs" && find $dirs -type f ! -name .modularbase-receipt.json -print0 |
        sort -z | xargs -0r sha256sum)
}

# Whether packs/<id>/<version> directories are exactly those state.json names.
packs_match_state() {
    local home=$1
    "$PY" - "$home" <<'PYEOF'
import json, os, sys
home = sys.argv[1]
try:
    st = json.load(open(os.path.join(home, "state.json")))["packs"]
except FileNotFoundError:
    st = []
want = sorted(f"{p['id']}/{p['version']}" for p in st)
have = []
pk = os.path.join(home, "packs")
for i in sorted(os.listdir(pk)) if os.path.isdir(pk) else []:
    vs = os.listdir(os.path.join(pk, i))
    if not vs:
        print(f"empty directory packs/{i}")
        sys.exit(1)
    have += [f"{i}/{v}" for v in vs]
have.sort()
if want != have:
    print(f"state.json: {want}\npacks/:     {have}")
    sys.exit(1)
PYEOF
}

check_converged() {
    local desc=$1 home=$2
    if [ -e "$home/journal" ]; then not_ok "$desc: journal left behind"; return; fi
    if [ -n "$(ls -A "$home/staging" 2>/dev/null)" ]; then
        not_ok "$desc: staging/ not empty: $(ls -A "$home/staging")"
        return
    fi
    local msg
    if ! msg=$(packs_match_state "$home"); then not_ok "$desc: $msg"; return; fi
    if ! MODULARBASE_HOME="$home" "$MB" pack verify >"$T/verify.out" 2>&1; then
        not_ok "$desc: pack verify failed"
        sed 's/^/    | /' "$T/verify.out" | head -10
        return
    fi
    ok "$desc"
}

# A file:// registry for the store tests: make_registry DIR NAME, then
# publish_packs DIR ARCHIVE... and refresh_registry DIR (keys maint and pub).
make_registry() {
    "$MB" key list 2>/dev/null | grep -q '^maint' ||
        "$MB" key generate --name maint --no-password >/dev/null
    "$MB" key list 2>/dev/null | grep -q '^pub' ||
        "$MB" key generate --name pub --no-password >/dev/null
    "$MB" registry init "$1" --name "$2" --key maint --publisher-key pub >/dev/null
}
publish_packs() {
    local dir=$1 f
    shift
    for f in "$@"; do
        "$MB" pack publish "$f" --registry "./$dir" >/dev/null || {
            echo "publish $f failed" >&2
            exit 1
        }
    done
    "$MB" registry refresh "$dir" --key maint >/dev/null
}
