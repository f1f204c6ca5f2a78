# t3002-resolve-cli.sh - `modularbase resolve` end to end on a small index
# directory (tests/data/registry-small): the plan, --json, the base rule,
# explanations (exit 7), yanked versions, prereleases, lock files
# (--write-lock is deterministic, --locked reproduces or explains), installed
# state, and clear errors for bad requests and malformed index files.
. "$(dirname "$0")/lib.sh"

REG="$DATA/registry-small"
R() { "$MB" resolve --index-dir "$REG" "$@"; }

check "resolve medical-en" R medical-en
check_grep "medical-en's newest non-yanked version" "^install +medical-en 1\.2\.0$" "$T/out"
check_grep "its dependency anatomy ^2.1.0 (no prerelease)" "^install +anatomy 2\.1\.0$" "$T/out"
check_grep "exactly one base, the newest that fits base 1.0" "^install +smollm2-135m 1\.0\.1 \(base\)$" "$T/out"
check_eq "four packs" "$(wc -l <"$T/out" | tr -d ' ')" 4

check "--json plan" R --json medical-en
cp "$T/out" "$T/plan.json"
check "--json is valid JSON with the plan" "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
ids = {p["id"]: p for p in d["packs"]}
assert ids["medical-en"]["version"] == "1.2.0" and ids["medical-en"]["requested"]
assert ids["smollm2-135m"]["kind"] == "base" and not ids["general"]["requested"]
assert len(ids["anatomy"]["sha256"]) == 64 and ids["anatomy"]["registry"] == "local"
assert d["stats"]["packages_loaded"] >= 4' "$T/plan.json"

check_exit 7 "incompatible base requirements exit 7" R medical-en code-python@^2
check_grep "explanation names both packs and ranges" \
    "Because every version of medical-en requires base 1\.0 and code-python >=2\.0\.0 requires base \^2\.0\.0" "$T/err"
check_grep "explanation ends with the request" "So, because you asked for both medical-en and code-python \^2, no solution was found\." "$T/err"
if grep -q root "$T/err"; then not_ok "explanation never says root"; else ok "explanation never says root"; fi
check_exit 7 "--json on a conflict" R --json medical-en code-python@^2
cp "$T/out" "$T/conflict.json"
check "--json conflict has the explanation" "$PYTHON" -c '
import json, sys; d = json.load(open(sys.argv[1])); assert d["error"] == "conflict" and "no solution" in d["explanation"]' "$T/conflict.json"

check "a conflict avoided by backtracking" R code-python veterinary
check_grep "code-python 2.1.0 conflicts with veterinary: 2.0.0 is chosen" "^install +code-python 2\.0\.0$" "$T/out"

check_exit 7 "a missing dependency" R nonexistent-pack
check_grep "the error names the missing pack" "you asked for nonexistent-pack which doesn't exist" "$T/err"
check_exit 7 "a misspelt pack" R medicl-en
check_grep "did you mean" "hint: no pack 'medicl-en'; did you mean 'medical-en'\?" "$T/err"

check_exit 7 "only yanked versions match" R medical-en@=1.1.0
check_grep "says the match is yanked" "matches only yanked versions" "$T/err"
check "prerelease only with -p" R -p anatomy@2.2.x
check_grep "-p picks the prerelease" "^install +anatomy 2\.2\.0-beta\.1$" "$T/out"
check_exit 7 "without -p no 2.2.x" R anatomy@2.2.x

# Lock files: written deterministically, reproduced by --locked.
check "--write-lock" R medical-en --write-lock "$T/packs.lock"
check "--write-lock again" R medical-en --write-lock "$T/packs2.lock"
check "the lock is deterministic" cmp "$T/packs.lock" "$T/packs2.lock"
check_grep "the lock has ids, versions, registry and sha256" '"sha256": "[0-9a-f]{64}"' "$T/packs.lock"
check_grep "the lock is sorted (anatomy first)" '^      "id": "anatomy",$' "$T/packs.lock"
check "--locked reproduces the lock" R --locked "$T/packs.lock" medical-en --write-lock "$T/packs3.lock"
check "same lock after --locked" cmp "$T/packs.lock" "$T/packs3.lock"
check_exit 7 "--locked refuses a pack missing from the lock" R --locked "$T/packs.lock" medical-en veterinary
check_grep "it says why" "veterinary which is not in packs.lock" "$T/err"
sed 's/"version": "1.2.0"/"version": "1.1.0"/' "$T/packs.lock" >"$T/yanked.lock"
check "a lock pinning a yanked version keeps it" R --lock "$T/yanked.lock" medical-en@1.1.0
check_grep "yanked but pinned" "^install +medical-en 1\.1\.0 \(yanked, pinned\)$" "$T/out"
sed 's/"sha256": "[0-9a-f]*"/"sha256": "0000000000000000000000000000000000000000000000000000000000000000"/' \
    "$T/packs.lock" >"$T/bad.lock"
check_exit 5 "--locked with a changed sha256 is a trust failure" R --locked "$T/bad.lock" medical-en
check_grep "names the pack and both hashes" "--locked: anatomy 2\.1\.0: sha256 0{64} in packs.lock but [0-9a-f]{64}" "$T/err"

# Installed state: kept when it fits, upgraded with -U.
cat >"$T/installed.lock" <<'JSON'
{"lock_version": 1, "packs": [
  {"id": "medical-en", "version": "1.0.0"}, {"id": "general", "version": "1.0.0"},
  {"id": "smollm2-135m", "version": "1.0.0"}, {"id": "veterinary", "version": "1.0.0"}]}
JSON
check "installed versions are kept" R --installed "$T/installed.lock" medical-en@^1.0.0
check_grep "keep medical-en 1.0.0" "^keep +medical-en 1\.0\.0$" "$T/out"
check_grep "remove what is no longer needed" "^remove +veterinary 1\.0\.0$" "$T/out"
check "-U upgrades" R -U --installed "$T/installed.lock" medical-en
check_grep "upgrade medical-en" "^upgrade +medical-en 1\.0\.0 -> 1\.2\.0$" "$T/out"

# Bad input: clear one-line errors, no crash.
check_exit 2 "an invalid request" R "Medical"
check_grep "names the request" "request 'Medical': \"Medical\" is not a valid pack id" "$T/err"
check_exit 2 "an invalid range in a request" R "medical-en@^1.x.y"
check_grep "names the range" 'is not a valid range' "$T/err"
check_exit 2 "no --index-dir" "$MB" resolve medical-en
mkdir -p "$T/badreg/index"
cp "$REG"/index/*.json "$T/badreg/index/"
printf '{"format": 1, "id": "general", "kind": "data", "versions": [{"version": "1.0"}]}' \
    >"$T/badreg/index/general.json"
check_exit 3 "a malformed index file" "$MB" resolve --index-dir "$T/badreg" medical-en
check_grep "names the file and field" "general.json: versions\[0\]\.version: \"1\.0\" is not a valid version" "$T/err"
printf '{"format": 1, "id": "anatomy", "kind": "data", "versions": []}' >"$T/badreg/index/general.json"
check_exit 3 "an index file for the wrong id" "$MB" resolve --index-dir "$T/badreg" medical-en
check_grep "says whose record it is" 'the record is for "anatomy", expected "general"' "$T/err"
check_exit 3 "a malformed lock" R --locked "$T/badreg/index/general.json" medical-en
finish
