#include "backend/cpu/gemm_widened_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

// pack_bf16_avx2's panels widened to float (exactly) and run through the
// float micro-kernel: the same sums as gemm_f32_avx2 on the same values.
void gemm_bf16_avx2(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    const int64_t k = a.w->k;
    avx2::gemm_widened_panels(a, t, scratch, [&](int64_t p, const avx2::KBlock& kb, float* slice) {
        const uint16_t* panel = a.w->halves() + p * k * 16 + kb.k0 * 16;
        for (int64_t i = 0; i < kb.kc * 16; i += 8) _mm256_store_ps(slice + i, avx2::load_bf16(panel + i));
    });
}

}  // namespace svdq
SVDQ_AVX2_END
