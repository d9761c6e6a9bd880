#include "backend/cpu/gemm_panels_avx2.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

// pack_f32_avx2's panels through the AVX-512 micro-kernel.
void gemm_f32_avx512(const GemmFloatArgs& a, const Tile& t) {
    avx2::gemm_f32_panels(a, t, [](auto&&... args) { avx512::f32_tile_panel(args...); });
}

}  // namespace svdq
SVDQ_AVX512_END
