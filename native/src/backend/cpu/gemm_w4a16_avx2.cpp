#include "backend/cpu/gemm_panels_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

size_t gemm_widened_avx2_scratch(const GemmFloatArgs& /*a*/) { return static_cast<size_t>(avx2::kFloatKBlock * 16); }

void gemm_w4a16_avx2(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    avx2::gemm_widened_panels(a, t, scratch, avx2::widen_w4a16, [](auto&&... args) { avx2::f32_tile_panel(args...); });
}

}  // namespace svdq
SVDQ_AVX2_END
