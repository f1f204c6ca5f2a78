#!/usr/bin/env bash
# registry-update.sh - benchmark `registry update` on a registry of 5,000 packs
# served by a local nginx, with every index file already cached by the client
# (the worst case for an update), after 3 index files changed: time, requests
# and bytes (from the client's report and nginx's access log). Target: only
# the snapshot (+ its signature) and the 3 changed index files are fetched.
# Also measures an update with nothing changed (If-None-Match -> 304) and the
# first `resolve` over all 5,000 packs (sparse fetch of every index file).
# The registry's files are written with Python and signed with the real
# minisign, from docs/registry.md alone. Writes
# scripts/bench/results/registry-update.json.
#
#   scripts/bench/registry-update.sh [--packs 5000] [--changed 3] [--bin build/modularbase]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NPACKS=5000
NCHANGED=3
BIN=$ROOT/build/modularbase
while (($#)); do
    case "$1" in
    --packs) NPACKS=$2; shift 2 ;;
    --changed) NCHANGED=$2; shift 2 ;;
    --bin) BIN=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "registry-update.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for t in minisign python3 nginx; do
    command -v "$t" >/dev/null || { echo "registry-update.sh: $t is required" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "registry-update.sh: build first ($BIN missing)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/mbbench.XXXXXX")
_hooks=()
at_exit() { _hooks+=("$1"); }
cleanup() {
    local h
    for h in "${_hooks[@]+"${_hooks[@]}"}"; do eval "$h" || true; done
    rm -rf "$T"
}
trap cleanup EXIT
export MODULARBASE_HOME=$T/home NO_COLOR=1
. "$ROOT/tests/integration/nginx.sh"
RESNAP=$ROOT/tests/integration/helpers/resnap.py

"$BIN" key generate --name maint --no-password >/dev/null
"$BIN" registry init "$T/www" --name big --key maint >/dev/null
# One base and NPACKS-1 data packs, one version each (the archives are not needed
# for an update: only metadata moves).
python3 - "$T/www" "$NPACKS" <<'EOF'
import json, os, sys, hashlib
d, n = sys.argv[1], int(sys.argv[2])
def rec(pid, kind, versions):
    vs = []
    for v in versions:
        e = {"version": v, "name": pid, "domain": "bench", "resident": kind == "base",
             "archive": f"packs/{pid}/{pid}-{v}.mbpack",
             "sha256": hashlib.sha256(f"{pid}{v}".encode()).hexdigest(), "size": 123456789,
             "yanked": False, "published": "2026-01-01T00:00:00Z"}
        if kind != "base":
            e["base_compatibility"] = ["1.0"]
        vs.append(e)
    return {"format": 1, "id": pid, "kind": kind, "versions": vs}
os.makedirs(os.path.join(d, "index"), exist_ok=True)
json.dump(rec("base", "base", ["1.0.0"]), open(os.path.join(d, "index", "base.json"), "w"), indent=2)
for i in range(1, n):
    pid = f"pack-{i:05d}"
    json.dump(rec(pid, "data", ["1.0.0"]), open(os.path.join(d, "index", pid + ".json"), "w"), indent=2)
EOF
sign() { minisign -S -s "$MODULARBASE_HOME/keys/maint.key" -m "$T/www/snapshot.json" -x "$T/www/snapshot.json.minisig" </dev/null >/dev/null; }
python3 "$RESNAP" "$T/www" && sign
nginx_start bench "$T/www"
"$BIN" registry add big "$NGX_URL" --key maint >/dev/null
SNAP_BYTES=$(stat -c %s "$T/www/snapshot.json")
INDEX_BYTES=$(cat "$T/www"/index/*.json | wc -c)

now() { date +%s.%N; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
log_reqs() { wc -l <"$NGX_LOG_bench" | tr -d ' '; }
log_bytes() { awk '{s += $4} END {print s + 0}' "$NGX_LOG_bench"; }

# Cache every index file (a client that resolved everything once).
ids=(base)
for ((i = 1; i < NPACKS; i++)); do ids+=("$(printf 'pack-%05d' "$i")"); done
nginx_log_reset bench
t0=$(now)
"$BIN" resolve "${ids[@]}" >/dev/null
t1=$(now)
resolve_s=$(diff_s "$t1" "$t0")
resolve_reqs=$(log_reqs)
cached=$(ls "$MODULARBASE_HOME/cache/registries/big/index" | wc -l)
echo "resolve of $NPACKS packs: ${resolve_s} s, $resolve_reqs requests, $cached index files cached" >&2

# Nothing changed: 304.
nginx_log_reset bench
t0=$(now)
"$BIN" registry update --json >"$T/u0.json"
t1=$(now)
nochange_s=$(diff_s "$t1" "$t0")
nochange_reqs=$(log_reqs)
nochange_bytes=$(log_bytes)

# NCHANGED index files get a new version; a new snapshot is signed.
python3 - "$T/www" "$NPACKS" "$NCHANGED" <<'EOF'
import json, os, sys, hashlib
d, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
step = max(1, (n - 1) // k)
for j in range(k):
    pid = f"pack-{1 + j * step:05d}"
    p = os.path.join(d, "index", pid + ".json")
    r = json.load(open(p))
    v = dict(r["versions"][0], version="1.1.0", archive=f"packs/{pid}/{pid}-1.1.0.mbpack",
             sha256=hashlib.sha256(pid.encode()).hexdigest())
    r["versions"].append(v)
    json.dump(r, open(p, "w"), indent=2)
EOF
python3 "$RESNAP" "$T/www" && sign
nginx_log_reset bench
t0=$(now)
"$BIN" registry update --json >"$T/u1.json"
t1=$(now)
update_s=$(diff_s "$t1" "$t0")
update_reqs=$(log_reqs)
update_bytes=$(log_bytes)
fetched=$(awk '{print $2}' "$NGX_LOG_bench" | sort | tr '\n' ' ')
echo "update after $NCHANGED changes: ${update_s} s, $update_reqs requests, $update_bytes bytes: $fetched" >&2
report=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; print(d["index_fetched"], d["bytes"], d["requests"], d["new_version"])' "$T/u1.json")
read -r idx_fetched client_bytes client_reqs new_version <<<"$report"
[ "$idx_fetched" = "$NCHANGED" ] || { echo "registry-update.sh: expected $NCHANGED index files, got $idx_fetched" >&2; exit 1; }

mkdir -p "$ROOT/scripts/bench/results"
cat >"$ROOT/scripts/bench/results/registry-update.json" <<EOF
{
  "benchmark": "registry-update",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "host": "$(uname -n)",
  "cores": $(nproc),
  "packs": $NPACKS,
  "changed": $NCHANGED,
  "index_files_cached_before": $cached,
  "snapshot_bytes": $SNAP_BYTES,
  "all_index_files_bytes": $INDEX_BYTES,
  "update_changed": {
    "seconds": $update_s,
    "requests": $update_reqs,
    "bytes_sent_by_server": $update_bytes,
    "client_reported_bytes": $client_bytes,
    "client_reported_requests": $client_reqs,
    "index_files_fetched": $idx_fetched,
    "new_version": $new_version,
    "paths": "$(echo $fetched)"
  },
  "update_unchanged": {"seconds": $nochange_s, "requests": $nochange_reqs, "bytes_sent_by_server": $nochange_bytes},
  "first_resolve_all": {"seconds": $resolve_s, "requests": $resolve_reqs}
}
EOF
cat "$ROOT/scripts/bench/results/registry-update.json"
