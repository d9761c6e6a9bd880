#!/usr/bin/env bash
# The CUDA checks on a GPU host with only CUDA, CMake and a C++ compiler (no
# .NET, no network): builds libsvdquant_cuda and the native suite, runs the
# suite (the CUDA cases no longer skip), then the GEMM benchmark. Header-only
# dependencies and GoogleTest come from build-gpu-deps/ (bundle_deps.sh) when
# the host has no packages of them. Writes logs to OUT (default build-gpu/).
# Usage: native/tests/gpu/run.sh [OUT]
set -uo pipefail
cd "$(dirname "$0")/../../.."
build=build-gpu
deps=build-gpu-deps
mkdir -p "${1:-$build}"
out=$(cd "${1:-$build}" && pwd)
args=(-DCMAKE_BUILD_TYPE=Release -DSVDQ_CUDA=ON -DSVDQ_BUILD_TESTS=ON -DSVDQ_FUZZ=OFF)
if [ -d "$deps" ]; then
  args+=(-DSVDQ_EIGEN_INCLUDE_DIR="$PWD/$deps/eigen3" -DSVDQ_JSON_INCLUDE_DIR="$PWD/$deps/json"
         -DSVDQ_GTEST_SOURCE_DIR="$PWD/$deps/googletest")
fi
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
cmake -S . -B "$build" "${args[@]}" > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target svdquant svdquant_cuda svdquant_unit_tests svdquant_api_tests \
  svdquant_cuda_benchmark > "$out/build.log" 2>&1 || { grep -E 'error' "$out/build.log" | head -40; exit 1; }
# The CUDA cases first (quick to read), then the whole suite.
"$build/bin/svdquant_unit_tests" --gtest_filter='*Cuda*:*BackendOps*:*Mma*:*BackendPlugin*' 2>&1 | tee "$out/cuda_tests.log" | tail -40
(cd "$build" && ctest -j "$(nproc)" --output-on-failure > "$out/ctest.log" 2>&1)
grep -E 'tests passed|tests failed|Total Test time' "$out/ctest.log"
"$build/bin/svdquant_cuda_benchmark" 20 2>&1 | tee "$out/benchmark.md"
