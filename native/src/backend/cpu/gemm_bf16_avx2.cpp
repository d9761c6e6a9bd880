#include "backend/cpu/gemm_panels_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

// pack_bf16_avx2's panels widened to float (exactly) and run through the
// float micro-kernel: the same sums as gemm_f32_avx2 on the same values.
void gemm_bf16_avx2(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    avx2::gemm_widened_panels(a, t, scratch, avx2::widen_bf16, [](auto&&... args) { avx2::f32_tile_panel(args...); });
}

}  // namespace svdq
SVDQ_AVX2_END
