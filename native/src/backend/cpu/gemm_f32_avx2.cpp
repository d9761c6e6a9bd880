#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

void gemm_f32_avx2(const GemmFloatArgs& a, const Tile& t) {
    const int64_t k = a.w->k, n = a.w->n;
    // K blocks outermost: the tile's slice of X stays in L2 across all panels.
    avx2::for_each_k_block(k, avx2::kFloatKBlock, [&](const avx2::KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 16) {
            const int width = static_cast<int>(std::min<int64_t>(16, t.n1 - n0));
            const float* slice = a.w->floats() + (n0 / 16) * k * 16 + kb.k0 * 16;
            avx2::f32_tile_panel(a.x, k, slice, kb, t.m0, t.m1, n0, width, a.bias, a.activation, a.y, n);
        }
    });
}

}  // namespace svdq
SVDQ_AVX2_END
