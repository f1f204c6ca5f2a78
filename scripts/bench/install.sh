#!/usr/bin/env bash
# install.sh - benchmark `pack install` against the standard tools in the same
# run, from a registry served by a real nginx on 127.0.0.1:
#  1. one big pack (default 1 GiB of incompressible weights): `pack install`
#     (download + sha256 + publisher signature + unpack with every member
#     hashed + fsync + commit) vs `curl -o` + `sha256sum` + `tar --zstd -xf` of
#     the same archive (and the same plus an fsync of the unpacked files);
#  2. many small packs: installing N = 10, 25, 50 packs in one transaction each
#     (fresh store), and 50 packs one `pack install` at a time.
# Median of N runs, warm page cache. Writes scripts/bench/results/install.json.
#
#   scripts/bench/install.sh [--size-mb 1024] [--runs 3] [--bin build/modularbase]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MB=1024
RUNS=3
BIN=$ROOT/build/modularbase
while (($#)); do
    case "$1" in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --bin) BIN=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for t in curl zstd tar sha256sum python3 sync "$NGINX"; do
    command -v "$t" >/dev/null || { echo "install.sh: $t is required" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "install.sh: build first ($BIN missing)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/mbbench.XXXXXX")
NGX_PID=
cleanup() {
    [ -n "$NGX_PID" ] && kill "$NGX_PID" 2>/dev/null && wait "$NGX_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
export MODULARBASE_HOME=$W/home NO_COLOR=1
MB() { "$BIN" "$@"; }
now() { date +%s.%N; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# --- a registry of signed packs, served by nginx
MB key generate --name maint --no-password >/dev/null
MB key generate --name pub --no-password >/dev/null
MB registry init "$W/www" --name bench --key maint --publisher-key pub >/dev/null
mkdir -p "$W/dist"
mkpack() { # ID VERSION KIND SIZE_MB
    local d="$W/src/$1"
    mkdir -p "$d/weights"
    {
        echo "id: $1"
        echo "name: $1"
        echo "version: $2"
        echo "kind: $3"
        [ "$3" = data ] && echo "domain: bench" && echo "base_compatibility: ['1.0']"
        echo "weights:"
        echo "  file: weights/$1.gguf"
    } >"$d/pack.yaml"
    python3 "$GGUF_WRITER" "$d/weights/$1.gguf" --kind "$3" --id "$1" --version "$2" \
        --tensor-mb "$4"
    MB pack build "$d" -o "$W/dist" --key pub >/dev/null
    MB pack publish "$W/dist/$1-$2.mbpack" --registry "$W/www" >/dev/null
}
# gguf-py writes the weights where it is installed; a minimal writer elsewhere.
GGUF_WRITER=$ROOT/scripts/bench/gguf_blob.py
python3 -c 'import gguf' 2>/dev/null && GGUF_WRITER=$ROOT/tests/integration/helpers/make_pack_gguf.py
echo "install.sh: building a ${SIZE_MB} MiB pack and 50 small ones..." >&2
mkpack base 1.0.0 base 0.05
mkpack big 1.0.0 data "$SIZE_MB"
for i in $(seq -w 1 50); do mkpack "small$i" 1.0.0 data 0.06; done
MB registry refresh "$W/www" --key maint >/dev/null
ARCHIVE=$W/www/packs/big/big-1.0.0.mbpack
ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")
UNPACKED_BYTES=$(du -cb "$W/src/big/pack.yaml" "$W/src/big/weights/big.gguf" | tail -1 | cut -f1)

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/nginx/logs"
cat >"$W/nginx/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes 1;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path $W/nginx/body;
    proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fastcgi;
    uwsgi_temp_path $W/nginx/uwsgi;
    scgi_temp_path $W/nginx/scgi;
    server { listen 127.0.0.1:$PORT; root $W/www; }
}
EOF
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
NGX_PID=$!
URL=http://127.0.0.1:$PORT/
for _ in $(seq 100); do curl -s -o /dev/null "$URL" && break; sleep 0.05; done
KEY=$(MB key export-public --name maint --base64)
MB registry add bench "$URL" --key "$KEY" >/dev/null
cat "$ARCHIVE" >/dev/null # warm the page cache

# cpu_of CMD...: run CMD, print the CPU seconds (user + sys) it used.
cpu_of() {
    /usr/bin/time -f "%U %S" -o "$W/cpu" "$@" >/dev/null 2>&1
    awk '{ printf "%.3f", $1 + $2 }' "$W/cpu"
}
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

# --- 1. one big pack
ours=() ref=() ref_sync=() ours_cpu=() ref_cpu=() dl=() unpack=()
for ((r = 1; r <= RUNS; r++)); do
    MB pack remove -y big >/dev/null 2>&1 || true
    MB cache clean >/dev/null
    sync
    t0=$(now)
    c=$(cpu_of "$BIN" pack install -y big)
    t1=$(now)
    ours+=("$(diff_s "$t1" "$t0")")
    ours_cpu+=("$c")

    # The same in two steps: the download alone, then the install from the cache.
    MB pack remove -y big >/dev/null
    MB cache clean >/dev/null
    sync
    t0=$(now)
    MB registry download big >/dev/null 2>&1
    t1=$(now)
    sync
    t2=$(now)
    MB pack install -y big >/dev/null 2>&1
    t3=$(now)
    dl+=("$(diff_s "$t1" "$t0")")
    unpack+=("$(diff_s "$t3" "$t2")")

    rm -rf "$W/x" "$W/ref.mbpack"
    sync
    t0=$(now)
    c1=$(cpu_of curl -s -o "$W/ref.mbpack" "${URL}packs/big/big-1.0.0.mbpack")
    c2=$(cpu_of sha256sum "$W/ref.mbpack")
    mkdir "$W/x"
    c3=$(cpu_of tar --zstd -xf "$W/ref.mbpack" -C "$W/x")
    t1=$(now)
    find "$W/x" -type f -exec sync {} +
    t2=$(now)
    ref+=("$(diff_s "$t1" "$t0")")
    ref_sync+=("$(diff_s "$t2" "$t0")")
    ref_cpu+=("$(sum "$(sum "$c1" "$c2")" "$c3")")
done
OURS=$(median "${ours[@]}")
REF=$(median "${ref[@]}")
REF_SYNC=$(median "${ref_sync[@]}")
OURS_CPU=$(median "${ours_cpu[@]}")
REF_CPU=$(median "${ref_cpu[@]}")
DL=$(median "${dl[@]}")
UNPACK=$(median "${unpack[@]}")
LOAD=$(cut -d' ' -f1 /proc/loadavg)
MB pack verify big >/dev/null
MB pack remove -y big >/dev/null
MB cache clean >/dev/null
rm -rf "$W/x" "$W/ref.mbpack"

# --- 2. small packs: N in one transaction, and 50 one at a time
declare -A many
for n in 10 25 50; do
    times=()
    for ((r = 1; r <= RUNS; r++)); do
        rm -rf "$W/h$n"
        MODULARBASE_HOME=$W/h$n "$BIN" registry add bench "$URL" --key "$KEY" >/dev/null
        ids=$(for i in $(seq -w 1 "$n"); do printf 'small%s ' "$i"; done)
        t0=$(now)
        # shellcheck disable=SC2086
        MODULARBASE_HOME=$W/h$n "$BIN" pack install -y $ids >/dev/null
        t1=$(now)
        times+=("$(diff_s "$t1" "$t0")")
    done
    many[$n]=$(median "${times[@]}")
done
rm -rf "$W/hs"
MODULARBASE_HOME=$W/hs "$BIN" registry add bench "$URL" --key "$KEY" >/dev/null
t0=$(now)
for i in $(seq -w 1 50); do
    MODULARBASE_HOME=$W/hs "$BIN" pack install -y "small$i" >/dev/null
done
t1=$(now)
SEQ50=$(diff_s "$t1" "$t0")
SMALL_BYTES=$(stat -c %s "$W/www/packs/small01/small01-1.0.0.mbpack")

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mkdir -p scripts/bench/results
python3 - "$OURS" "$REF" "$REF_SYNC" "${many[10]}" "${many[25]}" "${many[50]}" "$SEQ50" \
    "$SIZE_MB" "$ARCHIVE_BYTES" "$UNPACKED_BYTES" "$SMALL_BYTES" "$RUNS" "$CPU" \
    "$(nproc)" "$OURS_CPU" "$REF_CPU" "$DL" "$UNPACK" "$LOAD" \
    >scripts/bench/results/install.json <<'EOF'
import json, sys, datetime
a = sys.argv[1:]
ours_cpu, ref_cpu, dl, unpack, load = float(a[14]), float(a[15]), float(a[16]), float(a[17]), a[18]
ours, ref, ref_sync = float(a[0]), float(a[1]), float(a[2])
m10, m25, m50, seq50 = float(a[3]), float(a[4]), float(a[5]), float(a[6])
print(json.dumps({
    "benchmark": "install",
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "machine": {"cpu": a[12], "cores": int(a[13]), "load_average_1m": float(load)},
    "runs": int(a[11]), "statistic": "median",
    "big_pack": {
        "weights_mb": float(a[7]), "archive_bytes": int(a[8]), "unpacked_bytes": int(a[9]),
        "modularbase_s": ours,
        "curl_sha256sum_tar_s": ref,
        "curl_sha256sum_tar_fsync_s": ref_sync,
        "ratio_vs_reference": round(ours / ref, 3),
        "ratio_vs_reference_with_fsync": round(ours / ref_sync, 3),
        "target_ratio": 1.15,
        "modularbase_mb_per_s": round(int(a[8]) / 1e6 / ours, 1),
        "cpu_s": {"modularbase": ours_cpu, "curl_sha256sum_tar": ref_cpu,
                  "ratio": round(ours_cpu / ref_cpu, 3)},
        "phases_s": {"registry_download": dl, "install_from_cache": unpack},
    },
    "small_packs": {
        "archive_bytes_each": int(a[10]),
        "one_transaction_s": {"10": m10, "25": m25, "50": m50},
        "per_pack_ms": {"10": round(m10 / 10 * 1000, 1), "25": round(m25 / 25 * 1000, 1),
                        "50": round(m50 / 50 * 1000, 1)},
        "fifty_separate_installs_s": seq50,
    },
}, indent=2))
EOF
cat scripts/bench/results/install.json
