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

# Runs CTest then NUnit, always both, and ends with one line that sums them.
run_tests() {
  local passed=0 failed=0 out status=0
  log "native tests (CTest)"
  if out=$(cd "$BUILD_DIR" && ctest -j "$(nproc)" --output-on-failure 2>&1); then
    printf '%s\n' "$out" | tail -n 3
  else
    status=1
    printf '%s\n' "$out" | grep -vE '^ +Start |Passed +[0-9.]+ sec$'
  fi
  local line total fails
  line=$(printf '%s\n' "$out" | grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' | tail -n 1 || true)
  if [ -n "$line" ]; then
    fails=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + total - fails)); failed=$((failed + fails))
  else
    failed=$((failed + 1))
  fi

  log "managed tests (NUnit)"
  out=$(SVDQ_PACKAGE_SOURCE="$PACKAGES_DIR" dotnet test tests/SvdQuant.Tests/SvdQuant.Tests.csproj -c $CONFIG \
        --no-build -nologo -p:SvdqNativeDir="$BUILD_DIR/lib/" 2>&1) || status=1
  printf '%s\n' "$out" | grep -vE '^\s*$' | tail -n 25
  line=$(printf '%s\n' "$out" | grep -E '(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+' | tail -n 1 || true)
  local skipped=0
  if [ -n "$line" ]; then
    failed=$((failed + $(sed -E 's/.*Failed: +([0-9]+),.*/\1/' <<<"$line")))
    passed=$((passed + $(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$line")))
    skipped=$(sed -E 's/.*Skipped: +([0-9]+),.*/\1/' <<<"$line")
  else
    failed=$((failed + 1))
  fi
  [ "$failed" -eq 0 ] || status=1
  echo
  echo "$passed passed, $failed failed, $skipped skipped"
  return $status
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
