// AVX-512 (F, BW, VL, VNNI) building blocks shared by the AVX-512 kernels,
// which run only after CPUID said yes (the avx512_vnni level and above), and
// the AVX512_BF16 ones of the avx512_bf16 level's kernels.
//
// As with simd_avx2.h, only the code between SVDQ_AVX512_BEGIN and
// SVDQ_AVX512_END is compiled for these instructions; each *_avx512.cpp
// includes its headers first, then wraps its code in the pair. The target
// also names AVX2, FMA and F16C (every AVX-512 CPU has them), so the AVX2
// helpers inline into AVX-512 code.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/simd_avx2.h"

#if defined(__clang__)
#define SVDQ_AVX512_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c\"))), apply_to = function)")
#define SVDQ_AVX512_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define SVDQ_AVX512_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c\")")
#define SVDQ_AVX512_END _Pragma("GCC pop_options")
#else  // MSVC emits the intrinsics without /arch and vectorises nothing else
#define SVDQ_AVX512_BEGIN
#define SVDQ_AVX512_END
#endif

// The same with AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16): the code of the
// *_avx512bf16 kernels, which run only at the avx512_bf16 level.
#if defined(__clang__)
#define SVDQ_AVX512BF16_BEGIN                                                                                      \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c\"))), apply_to = function)")
#define SVDQ_AVX512BF16_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define SVDQ_AVX512BF16_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c\")")
#define SVDQ_AVX512BF16_END _Pragma("GCC pop_options")
#else
#define SVDQ_AVX512BF16_BEGIN
#define SVDQ_AVX512BF16_END
#endif

SVDQ_AVX512_BEGIN
namespace svdq::avx512 {
namespace {

// 16 BF16 values widened to float: a BF16 is the high half of its fp32.
inline __m512 load_bf16(const uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// The same, reading only the lanes set in `lanes` (first_lanes); the others
// are zero.
inline __m512 load_bf16(const uint16_t* p, __mmask16 lanes) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, p)), 16));
}

// avx2::exp's arithmetic on 16 lanes (its constants, the same values lane
// for lane, NaN kept), with vscalefps for the final * 2^n.
inline __m512 exp(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(avx2::kExpMax), _mm512_max_ps(_mm512_set1_ps(avx2::kExpMin), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(avx2::kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(avx2::kLn2High), x);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(avx2::kLn2Low), x);
    __m512 p = _mm512_set1_ps(avx2::kExpPoly[0]);
    for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(avx2::kExpPoly[i]));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// Lanes [0, count) of 16.
inline __mmask16 first_lanes(int count) { return static_cast<__mmask16>((1u << count) - 1u); }

// The Epilogue chain on row i, columns [j, j + count) (count 1..16),
// through the AVX2 finish_store on each half (GELU's exp is AVX2 code; the
// epilogue is a small share of the GEMM's time).
inline void finish_store(__m512 acc, const Epilogue& e, int64_t i, int64_t j, int count, float* y) {
    avx2::finish_store(_mm512_castps512_ps256(acc), e, i, j, count < 8 ? count : 8, y);
    if (count > 8)
        avx2::finish_store(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)), e, i, j + 8, count - 8, y + 8);
}

// The float micro-kernel: rows [m0, m0 + MR) of X times the K block of one
// 16-column panel slice ([kc][16] floats, 64-byte aligned) into y columns
// [n, n + width), one zmm per row. Per lane the AVX2 kernel's operations in
// its order (one FMA per k from zero, then the partial sum of earlier K
// blocks added, then the epilogue), so both levels give the same bits.
template <int MR>
inline void f32_rows(const float* x, int64_t ldx, const float* panel_slice, const avx2::KBlock& kb, int64_t m0, int64_t n,
                     int width, const Epilogue& e, float* y, int64_t ldy) {
    __m512 acc[MR];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
    const float* xs = x + m0 * ldx + kb.k0;
    for (int64_t j = 0; j < kb.kc; ++j) {
        const __m512 w = _mm512_load_ps(panel_slice + j * 16);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(xs[r * ldx + j]), w, acc[r]);
    }
    const __mmask16 lanes = first_lanes(width);
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        float* out = y + (m0 + r) * ldy + n;
        if (!kb.first) acc[r] = _mm512_add_ps(acc[r], _mm512_maskz_loadu_ps(lanes, out));
        if (kb.last)
            finish_store(acc[r], e, m0 + r, n, width, out);
        else
            _mm512_mask_storeu_ps(out, lanes, acc[r]);
    }
}

// Every row of the tile times one panel slice, twelve rows at a time (twelve
// accumulators hide the FMA latency at two FMAs per cycle).
inline void f32_tile_panel(const float* x, int64_t ldx, const float* panel_slice, const avx2::KBlock& kb, int64_t m0,
                           int64_t m1, int64_t n, int width, const Epilogue& e, float* y, int64_t ldy) {
    avx2::in_row_tiles<12>(m0, m1, [&](auto mr, int64_t m) {
        // Qualified: KBlock's namespace would bring avx2::f32_rows in by ADL.
        avx512::f32_rows<decltype(mr)::value>(x, ldx, panel_slice, kb, m, n, width, e, y, ldy);
    });
}

}  // namespace
}  // namespace svdq::avx512
SVDQ_AVX512_END

SVDQ_AVX512BF16_BEGIN
namespace svdq::avx512bf16 {
namespace {

// 32 BF16 values, as vdpbf16ps takes them, from their bits (a bit cast).
inline __m512bh as_bf16(__m512i v) { return (__m512bh)v; }

}  // namespace
}  // namespace svdq::avx512bf16
SVDQ_AVX512BF16_END
