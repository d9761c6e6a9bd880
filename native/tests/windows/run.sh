#!/usr/bin/env bash
# The win-x64 engine, built and tested on Linux: cross-compiles svdquant.dll
# and the native suite with MinGW-w64 GCC (native/cmake/mingw-w64-x86_64.cmake)
# into build-win/ (the DLL at build-win/lib/svdquant.dll), checks that the DLL
# needs only Windows system DLLs, exports only the C API, has no aligned
# 32/64-byte vector moves and keeps AVX inside the CPUID-guarded kernels,
# then runs the unit and C API suites under wine64 at SVDQ_CPU_LEVEL=auto
# and the kernel, linear and FLUX tests again capped at avx2 and at scalar.
# Ends with one line "windows: N passed, N failed, N skipped" (a failed
# build or check counts as one failure); logs in build-win/logs/.
# Needs: g++-mingw-w64-x86-64-posix, wine64, libeigen3-dev, nlohmann-json3-dev,
# libgtest-dev (its sources), cmake.
# Usage: native/tests/windows/run.sh [build]   ("build": the DLL and its checks only, for packing)
set -uo pipefail
mode=${1:-test}
cd "$(dirname "$0")/../../.."
build=${SVDQ_WIN_BUILD_DIR:-$PWD/build-win}
deps=$build/deps
mkdir -p "$deps/json" "$build/logs"
# Header-only dependencies as folders holding only them: /usr/include itself
# must not be on the MinGW include path.
ln -sfn /usr/include/eigen3 "$deps/eigen3"
ln -sfn /usr/include/nlohmann "$deps/json/nlohmann"

# A step that fails before the tests: one failure on the summary line.
fail() {
  echo "windows: FAIL: $*"
  echo "windows: 0 passed, 1 failed, 0 skipped"
  exit 1
}

start=$SECONDS
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$PWD/native/cmake/mingw-w64-x86_64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DSVDQ_WERROR=ON -DSVDQ_CUDA=OFF -DSVDQ_FUZZ=OFF -DSVDQ_BUILD_TESTS=ON \
  -DSVDQ_EIGEN_INCLUDE_DIR="$deps/eigen3" -DSVDQ_JSON_INCLUDE_DIR="$deps/json" \
  -DSVDQ_GTEST_SOURCE_DIR=/usr/src/googletest \
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST \
  > "$build/logs/configure.log" 2>&1 || { tail -30 "$build/logs/configure.log"; fail "configure"; }
targets=(svdquant svdquant_unit_tests svdquant_api_tests)
[ "$mode" = build ] && targets=(svdquant)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" \
  > "$build/logs/build.log" 2>&1 || { grep -E 'error|Error' "$build/logs/build.log" | head -40; fail "build"; }
echo "windows: configure + build took $((SECONDS - start)) s"

# The DLL needs only Windows' own DLLs (no libstdc++-6, libgcc_s, libwinpthread).
dll=$build/lib/svdquant.dll
allowed='^(kernel32|msvcrt|ucrtbase|advapi32|user32|bcrypt|ntdll|ws2_32|api-ms-win-crt-[a-z0-9-]+)\.dll$'
imports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n 's/^\s*DLL Name: //p')
echo "windows: svdquant.dll imports: $(echo $imports)"
foreign=$(grep -viE "$allowed" <<<"$imports" || true)
[ -z "$foreign" ] || fail "svdquant.dll needs DLLs Windows does not have: $(echo $foreign)"
# It exports the C API and nothing else.
exports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | grep -oE '[A-Za-z_][A-Za-z0-9_@]*$' | grep -v '^Table$' || true)
others=$(grep -v '^svdq_' <<<"$exports" || true)
grep -qx svdq_version <<<"$exports" && [ -z "$others" ] ||
  fail "svdquant.dll must export svdq_version and only svdq_* (others: $(echo $others | head -c 300))"
echo "windows: svdquant.dll exports $(wc -l <<<"$exports") svdq_* functions and nothing else"

# GCC spills 32- and 64-byte vectors to a stack Win64 aligns to 16 only: the
# assembler flag of the toolchain file makes every such move unaligned.
aligned=$(x86_64-w64-mingw32-objdump -d --no-show-raw-insn "$dll" | grep -cE 'vmov(aps|apd|dqa|dqa32|dqa64)\s.*%[yz]mm' || true)
[ "$aligned" -eq 0 ] || fail "svdquant.dll has $aligned aligned ymm/zmm moves (is -Wa,-muse-unaligned-vector-move set?)"

# The same SIMD isolation as on Linux: AVX only inside the CPUID-guarded kernels.
native/tests/check_simd_isolation.sh x86_64-w64-mingw32-objdump "$dll" | sed 's/^/windows: /' || fail "SIMD isolation"

[ "$mode" = build ] && exit 0

# wine64: a prefix of our own, made once, outside the source tree: its Z:
# drive links to /, and a tool that walks the tree (BenchmarkDotNet looking
# for the benchmarks' project) would walk the whole filesystem through it.
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
export WINEPREFIX=${SVDQ_WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/svdquant-wine} WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$(dirname "$WINEPREFIX")"
[ -f "$WINEPREFIX/system.reg" ] || "$wine" wineboot -i > "$build/logs/wineboot.log" 2>&1
# svdquant_api_tests.exe finds svdquant.dll in lib/ through the search path.
export WINEPATH="Z:${build//\//\\}\\lib"

# Left out: the tests at a model's scale (native/tests/model_scale_tests),
# which the Linux main build runs. None is left out for failing under wine:
# the POSIX-only cases (FIFOs, symlinks, permission bits, fork, RLIMIT_FSIZE)
# are left out of the Windows build by #ifndef _WIN32 in their files.
unit_filter=$(grep -v '^#' native/tests/model_scale_tests | paste -sd:)
api_filter=""
# What runs again at the capped levels: kernels, attention, linear layers, FLUX.
level_suites='*CpuKernel*:*Attention*:*BackendOps*:*Linear.*:*NunchakuLinear*:Flux.*:FluxQuantized.*'

# run NAME LEVEL EXE [gtest args]: one gtest run under wine; its counts go
# to logs/NAME.counts ("passed failed skipped"), its report to stdout.
run() {
  local name=$1 level=$2 exe=$3
  shift 3
  local log=$build/logs/$name.log t0=$SECONDS
  # Windows programs end their lines with CR LF.
  SVDQ_CPU_LEVEL=$level "$wine" "$build/bin/$exe.exe" "$@" 2>&1 | tr -d '\r' > "$log"
  local rc=${PIPESTATUS[0]} p s f
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\..*/\1/p' "$log" | tail -1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\?,.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\?,.*/\1/p' "$log" | tail -1)
  p=${p:-0} s=${s:-0} f=${f:-0}
  # A run that died before its summary counts as one failure.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "windows: $name exited with $rc before its summary (see $log)"; fi
  echo "windows: $name (SVDQ_CPU_LEVEL=$level): $p passed, $f failed, $s skipped in $((SECONDS - t0)) s"
  grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | grep -v ' ms)$' | sed 's/^/windows:   /' | head -20
  echo "$p $f $s" > "$build/logs/$name.counts"
}

# Two lanes at once (most tests use one core): the unit suite in two
# GoogleTest shards, one per lane, then the kernels again with the CPU capped
# (AVX2, this CPU's auto being AVX-512, over FLUX and the linear layers; and
# scalar) and the C API suite, balanced: 87 and 74 s here.
start=$SECONDS
rm -f "$build"/logs/*.counts
(
  GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=0 run unit_auto_1of2 auto svdquant_unit_tests --gtest_filter="-$unit_filter"
  run api_auto auto svdquant_api_tests --gtest_filter="-$api_filter"
  run unit_scalar scalar svdquant_unit_tests --gtest_filter="$level_suites"
) &
lane=$!
GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=1 run unit_auto_2of2 auto svdquant_unit_tests --gtest_filter="-$unit_filter"
run unit_avx2 avx2 svdquant_unit_tests --gtest_filter="$level_suites"
wait "$lane"
echo "windows: the wine runs took $((SECONDS - start)) s"
passed=0 failed=0 skipped=0
for name in unit_auto_1of2 unit_auto_2of2 api_auto unit_avx2 unit_scalar; do
  read -r p f s 2>/dev/null < "$build/logs/$name.counts" || { p=0 f=1 s=0; echo "windows: $name left no counts"; }
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "windows: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
