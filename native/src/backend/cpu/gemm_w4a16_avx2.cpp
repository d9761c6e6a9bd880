#include "backend/cpu/gemm_widened_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

namespace {

// Rows [k0, k0 + kc) of one 16-column panel of INT4 weights to float,
// [kc][16]: each group's scale and zero are read once, and the value is one
// FMA of the unsigned nibble u: u * scale + zero, the zero being AWQ's or,
// for symmetric weights (zeros nullptr), -8 * scale (exactly q * scale).
void dequantize_slice(const uint8_t* q, const uint16_t* scales, const uint16_t* zeros, int64_t k0, int64_t kc, float* out) {
    const __m128i low4 = _mm_set1_epi8(0x0F);
    for (int64_t g = k0 / 64; g < (k0 + kc) / 64; ++g) {
        const __m256 s0 = avx2::load_bf16(scales + g * 16), s1 = avx2::load_bf16(scales + g * 16 + 8);
        const __m256 z0 = zeros ? avx2::load_bf16(zeros + g * 16) : _mm256_mul_ps(s0, _mm256_set1_ps(-8.0f));
        const __m256 z1 = zeros ? avx2::load_bf16(zeros + g * 16 + 8) : _mm256_mul_ps(s1, _mm256_set1_ps(-8.0f));
        for (int64_t j = g * 64; j < (g + 1) * 64; ++j) {
            const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j * 8));
            const __m128i lo = _mm_and_si128(packed, low4);
            const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
            const __m128i cols = _mm_unpacklo_epi8(lo, hi);  // columns 0..15 in order
            const __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(cols));
            const __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(cols, 8)));
            _mm256_store_ps(out + (j - k0) * 16, _mm256_fmadd_ps(f0, s0, z0));
            _mm256_store_ps(out + (j - k0) * 16 + 8, _mm256_fmadd_ps(f1, s1, z1));
        }
    }
}

}  // namespace

size_t gemm_widened_avx2_scratch(const GemmFloatArgs& /*a*/) { return static_cast<size_t>(avx2::kFloatKBlock * 16); }

void gemm_w4a16_avx2(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    const int64_t k = a.w->k, groups = k / 64;
    avx2::gemm_widened_panels(a, t, scratch, [&](int64_t p, const avx2::KBlock& kb, float* slice) {
        dequantize_slice(a.w->bytes() + p * k * 8, a.w->scales.data() + p * groups * 16,
                         a.w->zeros.empty() ? nullptr : a.w->zeros.data() + p * groups * 16, kb.k0, kb.kc, slice);
    });
}

}  // namespace svdq
SVDQ_AVX2_END
