#!/usr/bin/env bash
# test.sh - the project's test command (README.md): installs dependencies,
# fetches the real model, then builds and runs every test twice — a normal
# build with warnings as errors (CUDA compiled when nvcc exists) and an
# AddressSanitizer/UBSan build — runs each libFuzzer target briefly on its
# seed corpus, and checks formatting. Exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    normal build and tests only (for development)
#   MB_FUZZ_SECONDS=N          seconds per fuzz target (default 15; fuzz_gguf twice that)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=0
for a in "$@"; do
    case "$a" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$a'" >&2; exit 2 ;;
    esac
done

JOBS=$(nproc)
FUZZ_SECONDS=${MB_FUZZ_SECONDS:-15}
stage() { printf '\n==== %s ====\n' "$*"; }
failed=()

stage "dependencies"
scripts/install-deps.sh
export MB_MODEL
MB_MODEL=$(scripts/fetch-model.sh)
export MB_REQUIRE_MODEL=1

run_suite() { # name builddir cmake-args...
    local name=$1 dir=$2
    shift 2
    stage "build: $name"
    cmake -S . -B "$dir" -G Ninja -DMB_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
    stage "tests: $name"
    if ! ctest --test-dir "$dir" --output-on-failure -j "$JOBS"; then
        failed+=("$name")
    fi
}

run_suite normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if ((quick == 0)); then
    run_suite "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=Debug -DMB_SANITIZE=ON \
        -DMB_DEBUG_ALLOC=ON -DMB_TEST_HOOKS=ON -DMB_CUDA=OFF

    stage "fuzz (${FUZZ_SECONDS}s per target)"
    # -O1: clang at -O3 with ASan+UBSan+libFuzzer instrumentation spends minutes on each
    # SIMD kernel file (intrinsics inlined into instrumented loops); -O1 is libFuzzer's
    # usual level and builds in a fraction of the time.
    CC=clang-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DMB_FUZZ=ON \
        -DMB_SANITIZE=ON -DMB_BUILD_TESTS=OFF -DMB_CUDA=OFF -DMB_WERROR=ON >/dev/null
    cmake --build build-fuzz -j "$JOBS"
    fuzz_pass=0
    for f in build-fuzz/tests/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        seeds="$ROOT/tests/fuzz/corpus/$name"
        work=$(mktemp -d)
        [ -d "$seeds" ] && cp -r "$seeds/." "$work/"
        secs=$FUZZ_SECONDS
        [ "$name" = fuzz_gguf ] && secs=$((FUZZ_SECONDS * 2)) # the reader of every untrusted model file
        echo "fuzz: $name (${secs}s)"
        if (cd build-fuzz && "$ROOT/$f" -max_total_time="$secs" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1); then
            fuzz_pass=$((fuzz_pass + 1))
        else
            tail -40 "$work.log"
            failed+=("fuzz:$name")
        fi
        rm -rf "$work" "$work.log"
    done
    echo "fuzz: $fuzz_pass targets ran clean"

    stage "style"
    if ! cmake --build build --target check-style >/dev/null 2>&1; then
        cmake --build build --target check-style 2>&1 | tail -20
        failed+=("style")
    fi
fi

stage "summary"
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all test stages passed"
