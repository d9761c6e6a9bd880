// W4A16 and BF16 weights widened per panel slice as at the AVX2 level, then
// the AVX-512 float micro-kernel.
#include "backend/cpu/gemm_panels_avx2.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

void gemm_w4a16_avx512(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    avx2::gemm_widened_panels(a, t, scratch, avx2::widen_w4a16, [](auto&&... args) { avx512::f32_tile_panel(args...); });
}

void gemm_bf16_avx512(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    avx2::gemm_widened_panels(a, t, scratch, avx2::widen_bf16, [](auto&&... args) { avx512::f32_tile_panel(args...); });
}

}  // namespace svdq
SVDQ_AVX512_END
