#!/usr/bin/env bash
# One entry point for Linux: native engine, bindings drift check, .NET build,
# tests, demo, packages and the Unity package.
# Usage: ./build.sh [build|test|demo|pack|unity|bench|bindings] [args...]
set -euo pipefail
cd "$(dirname "$0")"

ROOT=$(pwd)
BUILD_DIR=${SVDQ_BUILD_DIR:-$ROOT/build}
ASAN_BUILD_DIR=${SVDQ_ASAN_BUILD_DIR:-$ROOT/build-asan}
WIN_BUILD_DIR=${SVDQ_WIN_BUILD_DIR:-$ROOT/build-win}
CONFIG=Release
PACKAGES_DIR=$ROOT/artifacts/packages
APT_PACKAGES=(cmake g++ make libgtest-dev libeigen3-dev nlohmann-json3-dev castxml clang-14 libclang-rt-14-dev qemu-user)
# The win-x64 engine the package carries is cross-built with MinGW-w64 (pack, test).
PACK_APT_PACKAGES=(g++-mingw-w64-x86-64-posix)
# Test-only runtimes: wine64 runs the Windows suite, Mono the netstandard2.1 assembly as Unity's runs it.
TEST_APT_PACKAGES=(wine64 mono-runtime mono-mcs mono-devel)

# Each step's heading; the time each took is listed before the test summary
# (CI's budget is 30 minutes: the list shows where they go).
STEP= STEP_START=0 STEP_TIMES=()
end_step() {
  [ -n "$STEP" ] && STEP_TIMES+=("$(printf '%5d s  %s' $((SECONDS - STEP_START)) "$STEP")")
  STEP=
}
log() {
  end_step
  STEP=$* STEP_START=$SECONDS
  printf '\n== %s\n' "$*"
}

install_prerequisites() {  # [extra apt packages...]
  local missing=()
  for p in "${APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK (dotnet) is required: https://dot.net" >&2; exit 1; }
}

# The CUDA backend library is built when nvcc is found (SVDQ_REQUIRE_CUDA=1:
# or the build fails, as CI wants).
build_native() {
  log "native engine (CMake, $CONFIG)"
  local cuda=AUTO configured
  [ "${SVDQ_REQUIRE_CUDA:-0}" = 1 ] && cuda=ON
  configured=$(cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=$CONFIG -DSVDQ_WERROR=ON -DSVDQ_BUILD_TESTS=ON -DSVDQ_CUDA=$cuda)
  grep -E '^-- CUDA backend' <<<"$configured" || true
  cmake --build "$BUILD_DIR" -j "$(nproc)"
}

# Regenerates the bindings into the build folder and fails if the committed
# file differs: the header and bindings/Generated must change together.
check_bindings() {
  log "bindings drift check"
  local fresh=$BUILD_DIR/NativeMethods.g.cs
  dotnet run --project bindings/Generator -c $CONFIG -- native/include/svdquant.h "$fresh" >/dev/null
  if ! cmp -s "$fresh" bindings/Generated/NativeMethods.g.cs; then
    diff -u bindings/Generated/NativeMethods.g.cs "$fresh" | head -40 >&2 || true
    echo "error: bindings/Generated/NativeMethods.g.cs is out of date; run ./build.sh bindings and commit it" >&2
    exit 1
  fi
}

build_dotnet() {
  log ".NET build"
  dotnet build SvdQuant.Interop.sln -c $CONFIG -nologo -v quiet -p:SvdqNativeDir="$BUILD_DIR/lib/"
}

# The win-x64 engine the package carries, cross-built with MinGW-w64 into build-win/lib.
build_windows() {
  log "win-x64 engine (MinGW-w64, $(basename "$WIN_BUILD_DIR"))"
  SVDQ_WIN_BUILD_DIR="$WIN_BUILD_DIR" native/tests/windows/run.sh build | tail -n 6
}

build_all() {
  install_prerequisites "$@"
  build_native
  check_bindings
  build_dotnet
}

# The Unity (UPM) package folder: the netstandard2.1 assemblies and both engines.
unity_package() {
  log "Unity package -> artifacts/unity/com.svdquant.interop"
  unity/build-package.sh --configuration $CONFIG --linux-so "$BUILD_DIR/lib/libsvdquant.so" --win-dll "$WIN_BUILD_DIR/lib/svdquant.dll"
}

# SvdQuant.Interop with the linux-x64 and win-x64 engines, and SvdQuant.Interop.Runtime.Cuda
# when this build made libsvdquant_cuda.
pack() {
  log "NuGet packages -> artifacts/packages"
  rm -rf "$PACKAGES_DIR"
  dotnet pack src/SvdQuant/SvdQuant.csproj -c $CONFIG -nologo -v quiet -o "$PACKAGES_DIR" \
    -p:SvdqNativeDir="$BUILD_DIR/lib/" -p:SvdqWinNativeDir="$WIN_BUILD_DIR/lib/"
  if [ -f "$BUILD_DIR/lib/libsvdquant_cuda.so" ]; then
    dotnet pack src/SvdQuant.Runtime.Cuda/SvdQuant.Runtime.Cuda.csproj -c $CONFIG -nologo -v quiet -o "$PACKAGES_DIR" \
      -p:SvdqNativeDir="$BUILD_DIR/lib/"
  fi
  ls "$PACKAGES_DIR"
}

# The kernel levels below the best one this CPU has, for the extra native
# runs (SVDQ_CPU_LEVEL caps every context of a run).
lower_cpu_levels() {
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
  if has avx512f avx512bw avx512vl avx512_vnni avx512_bf16 && has avx2 fma f16c; then echo avx512_vnni avx2 scalar
  elif has avx512f avx512bw avx512vl avx512_vnni && has avx2 fma f16c; then echo avx2 scalar
  elif has avx2 fma f16c; then echo scalar
  fi
}

PASSED=0 FAILED=0 SKIPPED=0 STATUS=0

# One CTest run over the native suite in build folder DIR; adds its counts
# to the totals. Skipped and disabled tests count as skipped; a test CTest
# could not run (missing executable) counts as failed, as CTest counts it.
run_ctest() {  # DIR LEVEL [ctest arguments...]
  local dir=$1 level=$2; shift 2
  local out line total fails skipped
  log "native tests (CTest, $(basename "$dir"), SVDQ_CPU_LEVEL=$level)"
  if out=$(cd "$dir" && SVDQ_CPU_LEVEL=$level ctest -j "$(nproc)" --output-on-failure "$@" 2>&1); then
    printf '%s\n' "$out" | grep -E 'tests passed|Total Test time'
  else
    STATUS=1
    printf '%s\n' "$out" | grep -vE '^ +Start |Passed +[0-9.]+ sec$'
  fi
  line=$(printf '%s\n' "$out" | grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' | tail -n 1 || true)
  if [ -z "$line" ]; then FAILED=$((FAILED + 1)); STATUS=1; return; fi
  fails=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  skipped=$(printf '%s\n' "$out" | grep -cE '^\s+[0-9]+ - .* \((Skipped|Disabled)\)$' || true)
  PASSED=$((PASSED + total - fails - skipped)); FAILED=$((FAILED + fails)); SKIPPED=$((SKIPPED + skipped))
}

# Adds one GoogleTest run's counts from its output; a run that died before
# its summary (a crash, a sanitizer's abort, SIGILL) counts as one failure.
add_gtest_counts() {  # OUTPUT
  local passed fails skipped
  passed=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?[.,].*/\1/p' <<<"$1")
  fails=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?[.,].*/\1/p' <<<"$1")
  skipped=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?[.,].*/\1/p' <<<"$1")
  if [ -z "$passed" ]; then FAILED=$((FAILED + 1)); STATUS=1; return; fi
  PASSED=$((PASSED + passed)); FAILED=$((FAILED + ${fails:-0})); SKIPPED=$((SKIPPED + ${skipped:-0}))
  [ "${fails:-0}" -eq 0 ] || STATUS=1
}

# One GoogleTest executable in one shard per core, run at once from DIR, a
# process per shard rather than CTest's process per test: a sanitized
# process takes ~0.1 s to start and end, a third of the run when paid per
# test. Prints each shard's summary, or when it failed its failed tests and
# last lines (the test that was running and the sanitizer's report).
run_gtest_shards() {  # DIR EXECUTABLE FILTER
  local dir=$1 exe=$2 filter=$3 shards i rc out
  local logs=() pids=()
  shards=$(nproc)
  for ((i = 0; i < shards; i++)); do
    logs+=("$(mktemp)")
    (cd "$dir" && GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i exec "$exe" --gtest_filter="$filter") >"${logs[i]}" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < shards; i++)); do
    rc=0
    wait "${pids[i]}" || rc=$?
    out=$(<"${logs[i]}")
    rm -f "${logs[i]}"
    echo "$(basename "$exe") shard $((i + 1))/$shards:"
    if [ "$rc" -eq 0 ]; then
      grep -E '^\[  (PASSED  |SKIPPED )\] [0-9]' <<<"$out" || true
    else
      STATUS=1
      grep -E '^\[  FAILED  \] ' <<<"$out" || true
      printf '%s\n' "$out" | tail -n 40
    fi
    add_gtest_counts "$out"
  done
}

# The tests whose code reaches every AVX2 file's callers: every kernel, the
# attention (without its 1536-token shapes), Linear, the float FLUX forward,
# and the C API (FLUX float, W4A16 and W4A4 forward, layers, quantizer). On a
# CPU without AVX they run the scalar kernels, and any AVX code outside the
# CPUID-guarded kernels dies with SIGILL. The whole suite takes ~10 minutes
# under emulation, too long for every run.
NEHALEM_UNIT_FILTER='*CpuKernelTest.*:*AttentionTest.*:Linear.*:NunchakuLinear.*:Flux.*'
NEHALEM_UNIT_FILTER+='-*AttentionTest.*_s1536_*'
# The C API's two whole-model quantizations (FLUX, FLUX with a LoRA) stay
# out: half the emulated time, and CApi.QuantizeLinears* runs the quantizer.
NEHALEM_API_FILTER='CApi*-CApiFlux.QuantizeWritesACheckpointThatLoadsAndRuns:CApiFluxLora.QuantizeMergesTheLoraIntoTheFile'
run_nehalem() {
  log "native tests under qemu-x86_64 -cpu Nehalem (no AVX: scalar kernels)"
  if ! command -v qemu-x86_64 >/dev/null; then
    echo "skipped: qemu-x86_64 not installed (Debian: qemu-user)"
    SKIPPED=$((SKIPPED + 1)); return
  fi
  # Both programs at once (58 s one after the other, 42 s together on 2 cores).
  local start=$SECONDS unit_log api_log unit_pid out
  unit_log=$(mktemp) api_log=$(mktemp)
  SVDQ_CPU_LEVEL=auto qemu-x86_64 -cpu Nehalem "$BUILD_DIR/bin/svdquant_unit_tests" --gtest_filter="$NEHALEM_UNIT_FILTER" \
    --gtest_brief=1 >"$unit_log" 2>&1 &
  unit_pid=$!
  SVDQ_CPU_LEVEL=auto qemu-x86_64 -cpu Nehalem "$BUILD_DIR/bin/svdquant_api_tests" --gtest_filter="$NEHALEM_API_FILTER" \
    --gtest_brief=1 >"$api_log" 2>&1 || STATUS=1
  wait "$unit_pid" || STATUS=1
  for out in "$unit_log" "$api_log"; do
    tail -n 15 "$out"
    add_gtest_counts "$(<"$out")"
    rm -f "$out"
  done
  echo "emulated runs: $((SECONDS - start)) s"
}

# A suite run by a script that ends with "NAME: N passed, N failed[, N skipped]"; adds
# its counts to the totals. A script that dies before that line counts as failed.
run_counted() {  # NAME COMMAND [ARGS...]
  local name=$1 out line; shift
  out=$("$@" 2>&1) || STATUS=1
  printf '%s\n' "$out" | tail -n 25
  line=$(printf '%s\n' "$out" | grep -E "^$name: [0-9]+ passed, [0-9]+ failed" | tail -n 1 || true)
  if [ -z "$line" ]; then FAILED=$((FAILED + 1)); STATUS=1; return; fi
  PASSED=$((PASSED + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
  FAILED=$((FAILED + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
  SKIPPED=$((SKIPPED + $(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line" | grep . || echo 0)))
}

# The native suite cross-built for Windows, run under wine (and the DLL's imports and exports checked).
run_windows() {
  log "win-x64 native tests under wine (native/tests/windows/run.sh)"
  SVDQ_WIN_BUILD_DIR="$WIN_BUILD_DIR" run_counted windows native/tests/windows/run.sh
}

# The netstandard2.1 assembly under Mono (Unity's runtime, as near as Debian has it).
run_mono() {
  log "netstandard2.1 under Mono (tests/mono/run.sh)"
  SVDQ_NATIVE_DIR="$BUILD_DIR/lib" run_counted mono tests/mono/run.sh "$BUILD_DIR/mono"
}

# Every native test program of build folder DIR, each in one GoogleTest
# shard per core (run_gtest_shards) from the tests' folder, with FILTER. As
# CTest runs them: where the CUDA plugin was built, the engine finds it
# through SVDQ_CUDA_LIBRARY (not in the C API tests).
run_test_programs() {  # DIR FILTER
  local dir=$1 filter=$2 t cuda=""
  [ -f "$dir/lib/libsvdquant_cuda.so" ] && cuda=$dir/lib/libsvdquant_cuda.so
  for t in svdquant_unit_tests svdquant_allocation_tests svdquant_api_tests; do
    if [ -n "$cuda" ] && [ "$t" != svdquant_api_tests ]; then
      SVDQ_CUDA_LIBRARY=$cuda run_gtest_shards "$dir/native/tests" "$dir/bin/$t" "$filter"
    else
      run_gtest_shards "$dir/native/tests" "$dir/bin/$t" "$filter"
    fi
  done
}

# The tests at a model's scale, which run in the main build only, as a gtest filter.
MODEL_SCALE_TESTS=$(grep -v '^#' native/tests/model_scale_tests | paste -sd:)

# The native suite built by clang with AddressSanitizer and UBSan in its own
# folder, at the CPU's best level (the fuzzers already run sanitized).
run_sanitized() {
  log "native engine with ASan + UBSan (clang-14, $(basename "$ASAN_BUILD_DIR"))"
  local start=$SECONDS
  # -O2 with line tables, for reports with file:line: cold on 2 cores it built
  # as fast as -O1 (373 s against 399) and ran the suite in 155 s against 190.
  cmake -S "$ROOT" -B "$ASAN_BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DSVDQ_SANITIZE=ON -DSVDQ_FUZZ=OFF -DSVDQ_WERROR=ON -DSVDQ_BUILD_TESTS=ON -DSVDQ_CUDA=OFF >/dev/null
  if ! cmake --build "$ASAN_BUILD_DIR" -j "$(nproc)" --target svdquant_unit_tests svdquant_allocation_tests svdquant_api_tests \
       svdquant_format_fixtures >"$ASAN_BUILD_DIR/build.log" 2>&1; then
    grep -E 'error|Error' "$ASAN_BUILD_DIR/build.log" | head -n 40
    FAILED=$((FAILED + 1)); STATUS=1; return
  fi
  echo "built in $((SECONDS - start)) s"
  log "native tests (sharded, $(basename "$ASAN_BUILD_DIR"), SVDQ_CPU_LEVEL=auto)"
  start=$SECONDS
  # As CTest runs them there: a failed allocation returns null (tests ask
  # for impossible sizes and expect SVDQ_ERROR_OUT_OF_MEMORY), from the tests' folder.
  ASAN_OPTIONS=allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 SVDQ_CPU_LEVEL=auto \
    run_test_programs "$ASAN_BUILD_DIR" "-$MODEL_SCALE_TESTS"
  if "$ASAN_BUILD_DIR/bin/svdquant_format_fixtures" "$ASAN_BUILD_DIR/native/tests/fixtures" >"$ASAN_BUILD_DIR/format_fixtures.log" 2>&1; then
    PASSED=$((PASSED + 1))
  else
    tail -n 40 "$ASAN_BUILD_DIR/format_fixtures.log"
    FAILED=$((FAILED + 1)); STATUS=1
  fi
  echo "sanitized runs: $((SECONDS - start)) s"
}

# The native suite at the CPU's best level: each GoogleTest program in one
# shard per core, then CTest for the tests that are no GoogleTest program
# (the fuzzers, the format fixtures, the SIMD isolation check: `-LE gtest`):
# 70 s here, against 99 s as CTest ran the whole suite, a process per test.
run_best_level() {
  log "native tests (sharded, $(basename "$BUILD_DIR"), SVDQ_CPU_LEVEL=auto)"
  SVDQ_CPU_LEVEL=auto run_test_programs "$BUILD_DIR" "*"
  run_ctest "$BUILD_DIR" auto -LE gtest
}

# The native suite again at a lower level SVDQ_CPU_LEVEL, run as at the best
# level (a process per test, as CTest runs them, took 91 s for the three
# lower levels here, shards 40 s). Left out: a test pinned to a level (its
# name's parameter starts with the level), which already ran, unchanged, in
# the first run, and the tests at a model's scale, whose kernels smaller
# tests run at every level (a third of the scalar run); the fuzzers, the
# library check and the format fixtures test no kernel.
LOWER_LEVEL_FILTER="-$MODEL_SCALE_TESTS:*/scalar:*/scalar_*:*/avx2:*/avx2_*:*/avx512_*"
run_lower_level() {  # LEVEL
  log "native tests (sharded, $(basename "$BUILD_DIR"), SVDQ_CPU_LEVEL=$1)"
  SVDQ_CPU_LEVEL=$1 run_test_programs "$BUILD_DIR" "$LOWER_LEVEL_FILTER"
}

# The native suite at the CPU's best level, then once more per lower level,
# a subset on an emulated CPU without AVX, the suite built with sanitizers,
# then NUnit; always all of them, ending with one line that sums them.
run_tests() {
  run_best_level
  for level in $(lower_cpu_levels); do run_lower_level "$level"; done
  run_nehalem
  run_sanitized
  run_windows
  run_mono

  log "managed tests (NUnit)"
  local out line
  out=$(SVDQ_PACKAGE_SOURCE="$PACKAGES_DIR" dotnet test tests/SvdQuant.Tests/SvdQuant.Tests.csproj -c $CONFIG \
        --no-build -nologo -p:SvdqNativeDir="$BUILD_DIR/lib/" 2>&1) || STATUS=1
  printf '%s\n' "$out" | grep -vE '^\s*$' | tail -n 25
  line=$(printf '%s\n' "$out" | grep -E '(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+' | tail -n 1 || true)
  if [ -n "$line" ]; then
    FAILED=$((FAILED + $(sed -E 's/.*Failed: +([0-9]+),.*/\1/' <<<"$line")))
    PASSED=$((PASSED + $(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$line")))
    SKIPPED=$((SKIPPED + $(sed -E 's/.*Skipped: +([0-9]+),.*/\1/' <<<"$line")))
  else
    FAILED=$((FAILED + 1))
  fi
  [ "$FAILED" -eq 0 ] || STATUS=1
  end_step
  printf '\n== time per step\n'
  printf '%s\n' "${STEP_TIMES[@]}"
  echo
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  return $STATUS
}

command=${1:-build}
shift || true
case "$command" in
  build) build_all ;;
  test) build_all "${PACK_APT_PACKAGES[@]}" "${TEST_APT_PACKAGES[@]}"; build_windows; pack; run_tests ;;
  demo) build_all; dotnet run --project src/SvdQuant.Cli -c $CONFIG --no-build -- demo "$@" ;;
  pack) build_all "${PACK_APT_PACKAGES[@]}"; build_windows; pack ;;
  unity) build_all "${PACK_APT_PACKAGES[@]}"; build_windows; unity_package ;;
  bench) build_all; dotnet run --project benchmarks/SvdQuant.Benchmarks -c $CONFIG --no-build -- "$@" ;;
  bindings)
    install_prerequisites
    dotnet run --project bindings/Generator -c $CONFIG -- native/include/svdquant.h bindings/Generated/NativeMethods.g.cs ;;
  *) echo "usage: ./build.sh [build|test|demo|pack|unity|bench|bindings] [args...]" >&2; exit 2 ;;
esac
