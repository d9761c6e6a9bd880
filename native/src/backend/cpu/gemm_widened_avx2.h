// The driver of the AVX2 GEMMs whose weights are narrower than float (W4A16,
// BF16): per K block and 16-column panel, the panel's slice is widened to
// float once into an L1-sized per-thread buffer (the kernel's scratch,
// gemm_widened_avx2_scratch floats), then every row of the tile runs the
// float micro-kernel over it.
#pragma once

#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq::avx2 {
namespace {

// widen(panel, kb, out) writes rows [kb.k0, kb.k0 + kb.kc) of 16-column
// panel `panel` as float, [kb.kc][16].
template <class Widen>
void gemm_widened_panels(const GemmFloatArgs& a, const Tile& t, float* slice, const Widen& widen) {
    const int64_t k = a.w->k, n = a.w->n;
    // K blocks outermost: the tile's slice of X stays in L2 across all panels.
    for_each_k_block(k, kFloatKBlock, [&](const KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 16) {
            const int width = static_cast<int>(std::min<int64_t>(16, t.n1 - n0));
            widen(n0 / 16, kb, slice);
            f32_tile_panel(a.x, k, slice, kb, t.m0, t.m1, n0, width, a.bias, a.activation, a.y, n);
        }
    });
}

}  // namespace
}  // namespace svdq::avx2
SVDQ_AVX2_END
