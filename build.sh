#!/usr/bin/env bash
# One entry point for Linux: native engine, bindings drift check, .NET build,
# tests, demo and package. Usage: ./build.sh [build|test|demo|pack|bench|bindings] [args...]
set -euo pipefail
cd "$(dirname "$0")"

ROOT=$(pwd)
BUILD_DIR=${SVDQ_BUILD_DIR:-$ROOT/build}
CONFIG=Release
PACKAGES_DIR=$ROOT/artifacts/packages
APT_PACKAGES=(cmake g++ make libgtest-dev libeigen3-dev nlohmann-json3-dev castxml clang-14 libclang-rt-14-dev)

log() { printf '\n== %s\n' "$*"; }

install_prerequisites() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
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

build_native() {
  log "native engine (CMake, $CONFIG)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=$CONFIG -DSVDQ_WERROR=ON -DSVDQ_BUILD_TESTS=ON >/dev/null
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

build_all() {
  install_prerequisites
  build_native
  check_bindings
  build_dotnet
}

pack() {
  log "NuGet package -> artifacts/packages"
  rm -rf "$PACKAGES_DIR"
  dotnet pack src/SvdQuant/SvdQuant.csproj -c $CONFIG -nologo -v quiet -o "$PACKAGES_DIR" \
    -p:SvdqNativeDir="$BUILD_DIR/lib/"
  ls "$PACKAGES_DIR"
}

# The kernel levels below the best one this CPU has, for the extra native
# runs (SVDQ_CPU_LEVEL caps every context of a run).
lower_cpu_levels() {
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
  if has avx512f avx512bw avx512vl avx512_vnni && has avx2 fma f16c; then echo avx2 scalar
  elif has avx2 fma f16c; then echo scalar
  fi
}

PASSED=0 FAILED=0 SKIPPED=0 STATUS=0

# One CTest run over the native suite; adds its counts to the totals.
# Skipped and disabled tests count as skipped; a test CTest could not run
# (missing executable) counts as failed, as CTest counts it.
run_ctest() {  # LEVEL [ctest arguments...]
  local level=$1; shift
  local out line total fails skipped
  log "native tests (CTest, SVDQ_CPU_LEVEL=$level)"
  if out=$(cd "$BUILD_DIR" && SVDQ_CPU_LEVEL=$level ctest -j "$(nproc)" --output-on-failure "$@" 2>&1); then
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

# The native suite at the CPU's best level, then once more per lower level
# (the fuzzer only in the first run: it tests no kernel), then NUnit; always
# all of them, ending with one line that sums them.
run_tests() {
  run_ctest auto
  for level in $(lower_cpu_levels); do run_ctest "$level" -E '^fuzz_'; done

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
  echo
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  return $STATUS
}

command=${1:-build}
shift || true
case "$command" in
  build) build_all ;;
  test) build_all; pack; run_tests ;;
  demo) build_all; dotnet run --project src/SvdQuant.Cli -c $CONFIG --no-build -- demo "$@" ;;
  pack) build_all; pack ;;
  bench) build_all; dotnet run --project benchmarks/SvdQuant.Benchmarks -c $CONFIG --no-build -- "$@" ;;
  bindings)
    install_prerequisites
    dotnet run --project bindings/Generator -c $CONFIG -- native/include/svdquant.h bindings/Generated/NativeMethods.g.cs ;;
  *) echo "usage: ./build.sh [build|test|demo|pack|bench|bindings] [args...]" >&2; exit 2 ;;
esac
