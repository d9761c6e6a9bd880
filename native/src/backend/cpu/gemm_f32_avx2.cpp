#include "backend/cpu/gemm_panels_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

void gemm_f32_avx2(const GemmFloatArgs& a, const Tile& t) {
    avx2::gemm_f32_panels(a, t, [](auto&&... args) { avx2::f32_tile_panel(args...); });
}

}  // namespace svdq
SVDQ_AVX2_END
