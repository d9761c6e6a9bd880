#!/usr/bin/env bash
# Fails when a function of the library that may run on any x86-64 contains
# AVX instructions (VEX/EVEX: v-prefixed mnemonics, ymm/zmm registers). Only
# the *_avx2 entry points, their lambdas and the file-local helpers of the
# AVX2 files may: CPUID guards those. Anything else (an inline function or
# template copy compiled for AVX2 and kept by the linker, a scalar file built
# with -mavx2) would die with SIGILL on a CPU without AVX.
# Usage: check_simd_isolation.sh OBJDUMP LIBRARY
set -euo pipefail
objdump=$1 library=$2

listing=$("$objdump" -d --no-show-raw-insn -C "$library")
# Function names whose body uses an AVX instruction, once each.
avx_functions=$(awk '
  /^[0-9a-f]+ <.*>:$/ { fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn); next }
  /:\tv[a-z0-9]+|%[yz]mm/ { if (!(fn in seen)) { seen[fn] = 1; print fn } }
' <<<"$listing")
guarded=$(grep -cE '^svdq::[a-z0-9_]+_avx2\(' <<<"$avx_functions" || true)
offenders=$(grep -vE '_avx2\(|\(anonymous namespace\)' <<<"$avx_functions" || true)

# An empty listing would pass anything: the kernels must be there.
if [ "$guarded" -eq 0 ]; then
  echo "error: no svdq::*_avx2 entry point with AVX code in $library" >&2
  exit 1
fi
if [ -n "$offenders" ]; then
  echo "error: functions outside the AVX2 kernels use AVX instructions in $library:" >&2
  printf '  %s\n' "$offenders" >&2
  exit 1
fi
echo "AVX code only in the AVX2 kernels ($guarded entry points with AVX code and their file-local helpers)"
