// The drivers of the float-accumulating GEMMs (float, BF16, W4A16) over
// 16-column panels, shared by the AVX2 and AVX-512 levels, which plug in
// their float micro-kernel. Weights narrower than float are widened per K
// block and panel once into an L1-sized per-thread buffer (the kernel's
// scratch, gemm_widened_avx2_scratch floats) that every row of the tile
// then reads.
#pragma once

#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq::avx2 {
namespace {

// tile_panel has f32_tile_panel's signature (the level's float micro-kernel
// over a tile's rows).
template <class TilePanel>
void gemm_f32_panels(const GemmFloatArgs& a, const Tile& t, const TilePanel& tile_panel) {
    const int64_t k = a.w->k, n = a.w->n;
    // K blocks outermost: the tile's slice of X stays in L2 across all panels.
    for_each_k_block(k, kFloatKBlock, [&](const KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 16) {
            const int width = static_cast<int>(std::min<int64_t>(16, t.n1 - n0));
            const float* slice = a.w->floats() + (n0 / 16) * k * 16 + kb.k0 * 16;
            tile_panel(a.x, k, slice, kb, t.m0, t.m1, n0, width, a.epilogue, a.y, n);
        }
    });
}

// widen(a.w, panel, kb, out) writes rows [kb.k0, kb.k0 + kb.kc) of 16-column
// panel `panel` as float, [kb.kc][16].
template <class Widen, class TilePanel>
void gemm_widened_panels(const GemmFloatArgs& a, const Tile& t, float* slice, const Widen& widen, const TilePanel& tile_panel) {
    const int64_t k = a.w->k, n = a.w->n;
    // K blocks outermost: the tile's slice of X stays in L2 across all panels.
    for_each_k_block(k, kFloatKBlock, [&](const KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 16) {
            const int width = static_cast<int>(std::min<int64_t>(16, t.n1 - n0));
            widen(*a.w, n0 / 16, kb, slice);
            tile_panel(a.x, k, slice, kb, t.m0, t.m1, n0, width, a.epilogue, a.y, n);
        }
    });
}

// pack_w4a16_avx2's panel to float: each group's scale and zero are read
// once, and the value is one FMA of the unsigned nibble u: u * scale + zero,
// the zero being AWQ's or, for symmetric weights (no zeros), -8 * scale
// (exactly q * scale).
inline void widen_w4a16(const PackedWeights& w, int64_t panel, const KBlock& kb, float* out) {
    const int64_t k = w.k, groups = k / 64;
    const uint8_t* q = w.bytes() + panel * k * 8;
    const uint16_t* scales = w.scales.data() + panel * groups * 16;
    const uint16_t* zeros = w.zeros.empty() ? nullptr : w.zeros.data() + panel * groups * 16;
    const __m128i low4 = _mm_set1_epi8(0x0F);
    for (int64_t g = kb.k0 / 64; g < (kb.k0 + kb.kc) / 64; ++g) {
        const __m256 s0 = load_bf16(scales + g * 16), s1 = load_bf16(scales + g * 16 + 8);
        const __m256 z0 = zeros ? load_bf16(zeros + g * 16) : _mm256_mul_ps(s0, _mm256_set1_ps(-8.0f));
        const __m256 z1 = zeros ? load_bf16(zeros + g * 16 + 8) : _mm256_mul_ps(s1, _mm256_set1_ps(-8.0f));
        for (int64_t j = g * 64; j < (g + 1) * 64; ++j) {
            const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j * 8));
            const __m128i lo = _mm_and_si128(packed, low4);
            const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
            const __m128i cols = _mm_unpacklo_epi8(lo, hi);  // columns 0..15 in order
            const __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(cols));
            const __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(cols, 8)));
            _mm256_store_ps(out + (j - kb.k0) * 16, _mm256_fmadd_ps(f0, s0, z0));
            _mm256_store_ps(out + (j - kb.k0) * 16 + 8, _mm256_fmadd_ps(f1, s1, z1));
        }
    }
}

// pack_bf16_avx2's panel to float, exactly.
inline void widen_bf16(const PackedWeights& w, int64_t panel, const KBlock& kb, float* out) {
    const uint16_t* slice = w.halves() + panel * w.k * 16 + kb.k0 * 16;
    for (int64_t i = 0; i < kb.kc * 16; i += 8) _mm256_store_ps(out + i, load_bf16(slice + i));
}

}  // namespace
}  // namespace svdq::avx2
SVDQ_AVX2_END
