# registry_lib.sh - shared setup of the registry tests (source after lib.sh):
# keys for a maintainer and a publisher, and pack archives built and signed
# with the real `pack build` from small GGUFs written by gguf-py.
#
#   reg_keys                         keys 'maint', 'pub', 'other' (no password)
#   build_packs OUTDIR SPEC...        make_packs.py specs -> OUTDIR/ID-VERSION.mbpack(.minisig)
#                                     (MB_PACK_MB=N sets the tensor size in MiB)
#   pubkey NAME                       the base64 public key of key NAME
PY=${PYTHON:-python3}
"$PY" -c 'import gguf, numpy' 2>/dev/null || { echo "skipped: gguf-py missing"; exit 77; }
MKPACKS="$SRC/tests/integration/helpers/make_packs.py"

reg_keys() {
    local k
    for k in maint pub other; do
        "$MB" key generate --name "$k" --no-password >/dev/null || {
            echo "key generate failed" >&2
            exit 1
        }
    done
}

pubkey() {
    "$MB" key export-public --name "$1" --base64
}

build_packs() {
    local out=$1
    shift
    mkdir -p "$out" "$T/packsrc"
    "$PY" "$MKPACKS" "$T/packsrc" --mb "${MB_PACK_MB:-0.01}" "$@" || exit 1
    local spec id ver
    for spec in "$@"; do
        id=${spec%%:*}
        ver=${spec#*:}
        ver=${ver%%:*}
        "$MB" pack build "$T/packsrc/$id-$ver" -o "$out" --key "${PACK_KEY:-pub}" >/dev/null || {
            echo "pack build $id $ver failed" >&2
            exit 1
        }
    done
}
