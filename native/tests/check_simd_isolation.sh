#!/usr/bin/env bash
# Fails when a function of the library that may run on any x86-64 contains
# AVX instructions (VEX/EVEX: v-prefixed mnemonics, ymm/zmm registers), one
# that may run on an AVX2-only CPU contains AVX-512 (zmm, mask or
# xmm/ymm16-31 registers), or one that may run on an AVX-512 CPU without
# AVX512_BF16 contains its instructions. Only the *_avx2, *_avx512 and
# *_avx512bf16 entry points, their lambdas and the file-local helpers of
# their files may use AVX, of them only the *_avx512 and *_avx512bf16 ones
# AVX-512, and only the *_avx512bf16 ones AVX512_BF16: CPUID guards those. Anything else (an
# inline function or template copy compiled for AVX2 and kept by the
# linker, a scalar file built with -mavx2) would die with SIGILL on an older
# CPU.
# Usage: check_simd_isolation.sh OBJDUMP LIBRARY
set -euo pipefail
objdump=$1 library=$2

# One pass over the disassembly (tens of MB: held in a shell variable and
# read three times it took 12 s) lists the functions, once each, whose body
# uses an AVX instruction ("avx"), an AVX-512 register ("avx512") or an
# AVX512_BF16 instruction ("bf16"), as "KIND<TAB>NAME" lines.
uses=$("$objdump" -d --no-show-raw-insn -C "$library" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn); next }
  /:\tv[a-z0-9]+|%[yz]mm/ && !(("avx", fn) in seen) { seen["avx", fn] = 1; print "avx\t" fn }
  /%zmm|%k[1-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])/ && !(("avx512", fn) in seen) { seen["avx512", fn] = 1; print "avx512\t" fn }
  /:\tv(dpbf16ps|cvtne2ps2bf16|cvtneps2bf16)/ && !(("bf16", fn) in seen) { seen["bf16", fn] = 1; print "bf16\t" fn }
')
functions_using() { sed -n "s/^$1\t//p" <<<"$uses"; }
avx_functions=$(functions_using avx)
avx512_functions=$(functions_using avx512)
bf16_functions=$(functions_using bf16)
guarded=$(grep -cE '^svdq::[a-z0-9_]+_avx(2|512|512bf16)\(' <<<"$avx_functions" || true)
offenders=$(grep -vE '_avx(2|512|512bf16)\(|\(anonymous namespace\)' <<<"$avx_functions" || true)
offenders512=$(grep -vE '_avx512(bf16)?\(|\(anonymous namespace\)' <<<"$avx512_functions" || true)
offenders_bf16=$(grep -vE '_avx512bf16\(|\(anonymous namespace\)' <<<"$bf16_functions" || true)

# An empty listing would pass anything: the kernels must be there.
if [ "$guarded" -eq 0 ]; then
  echo "error: no svdq::*_avx2 or *_avx512 entry point with AVX code in $library" >&2
  exit 1
fi
if [ -n "$offenders" ]; then
  echo "error: functions outside the SIMD kernels use AVX instructions in $library:" >&2
  printf '  %s\n' "$offenders" >&2
  exit 1
fi
if [ -n "$offenders512" ]; then
  echo "error: functions outside the AVX-512 kernels use AVX-512 registers in $library:" >&2
  printf '  %s\n' "$offenders512" >&2
  exit 1
fi
if [ -n "$offenders_bf16" ]; then
  echo "error: functions outside the AVX512_BF16 kernels use AVX512_BF16 instructions in $library:" >&2
  printf '  %s\n' "$offenders_bf16" >&2
  exit 1
fi
echo "AVX code only in the SIMD kernels ($guarded entry points with AVX code and their file-local helpers), AVX-512 only in the *_avx512 and *_avx512bf16 ones, AVX512_BF16 only in the *_avx512bf16 ones"
