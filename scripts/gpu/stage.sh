#!/usr/bin/env bash
# stage.sh - prepare the folder that travels to the lent GPU machine (docs/cuda.md,
# "Working on the GPU machine"): a Release build for sm_90 of the binary, the GPU
# tests and the benchmark driver (stripped), the shared libraries they need that the
# machine lacks (it has no -dev packages), the scripts that run there, SmolLM2's
# tokenizer as a small GGUF (models are generated there with `gguf synth`), and
# the trimmed llama.cpp source of the llama-cpp-python sdist (built there by
# scripts/bench/gpu.sh). Binaries and libraries travel as one xz tarball (17 MiB of
# binaries compress to 1), so a call can also carry half of the real model.
# On the machine: mkdir -p /root/mb && tar -xJf .dev/mb.tar.xz -C /root/mb
#
#   scripts/gpu/stage.sh [DEST]      (default /work/main/.dev, ignored by git there)
#   MB_LLAMA_SRC=DIR                 llama.cpp source to pack (default: from the sdist)
#   MB_STAGE_MODEL_PART=a|b          also stage that half of the real model (docs/cuda.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEST=${1:-/work/main/.dev}
BUILD=${MB_STAGE_BUILD:-$ROOT/build-dev}
MODEL=${MB_MODEL:-$HOME/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf}
TARGETS=(modularbase bench_gpu kernels_test_ops kernels_test_cuda runtime_test_cuda_session)

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMB_CUDA=ON \
    -DMB_CUDA_ARCHS=90-real -DMB_WERROR=ON >/dev/null
cmake --build "$BUILD" -j2 --target "${TARGETS[@]}"

mkdir -p "$DEST"
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
mkdir -p "$S/bin" "$S/lib" "$S/scripts" "$S/data"
for t in "${TARGETS[@]}"; do
    f=$(find "$BUILD" -maxdepth 2 -type f -name "$t" | head -1)
    strip -o "$S/bin/$t" "$f"
done
# every shared library the binaries use, except the C runtime the machine has
for f in "$S"/bin/*; do ldd "$f"; done | awk '/=> \//{print $3}' | sort -u |
    grep -vE '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$S/lib/"; done
cp scripts/gpu/check.sh scripts/bench/gpu.sh tests/integration/t9010-cuda-greedy.py "$S/scripts/"
"$BUILD/modularbase" gguf synth --tokenizer-only --tokenizer "$MODEL" "$S/data/tok.gguf"
tar -C "$S" -cf - bin lib scripts data | xz -T2 -6 >"$DEST/mb.tar.xz"

# llama.cpp: the sdist's vendor/llama.cpp without tests, models, docs and other backends
if [ ! -f "$DEST/llama.cpp.tar.xz" ]; then
    SDIST=${MB_SDIST:-/tmp/sdist/llama_cpp_python-0.3.36.tar.gz}
    L=$S/llama
    mkdir -p "$L"
    tar -xzf "$SDIST" -C "$L" --wildcards '*/vendor/llama.cpp/*'
    src=$(echo "$L"/*/vendor/llama.cpp)
    mkdir -p "$L/llama.cpp"
    for d in CMakeLists.txt cmake include src common vendor tools ggml app LICENSE licenses; do
        [ -e "$src/$d" ] && cp -r "$src/$d" "$L/llama.cpp/"
    done
    for b in et metal hexagon sycl vulkan opencl cann musa hip blas rpc zdnn webgpu virtgpu; do
        rm -rf "$L/llama.cpp/ggml/src/ggml-$b"
    done
    rm -rf "$L/llama.cpp/tools/ui"
    tar -C "$L" -cf - llama.cpp | xz -T2 -6 >"$DEST/llama.cpp.tar.xz"
fi

# half of the real model (94 MiB do not fit one call): reassembled on the machine
rm -f "$DEST"/model-part-*
case "${MB_STAGE_MODEL_PART:-}" in
a) head -c 47185920 "$MODEL" >"$DEST/model-part-a" ;;
b) tail -c +47185921 "$MODEL" >"$DEST/model-part-b" ;;
esac
ls -la "$DEST"
du -sh "$DEST"
