#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

// Same arithmetic as the scalar reference (add the shift, multiply by
// 1 / lambda, then by levels / absmax, round half to even), so the outputs
// agree bit for bit.
// Per rank, 8-wide partial sums of the down-projection (aligned: the pool's
// buffers are).
size_t quantize_act_avx2_scratch(const QuantizeActArgs& a) { return static_cast<size_t>(a.rank * 8); }

void quantize_act_avx2(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* partial) {
    const int64_t groups = a.k / 64;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const float levels = a.encoding.is_unsigned ? 15.0f : 7.0f;
    const __m256i lo = _mm256_set1_epi32(a.encoding.is_unsigned ? 0 : -8);
    const __m256i hi = _mm256_set1_epi32(static_cast<int>(levels));
    const __m256 shift = _mm256_set1_ps(a.encoding.shift);
    // The rank-r down-projection is accumulated group by group from the same
    // registers the quantizer uses, so X is read exactly once: per rank,
    // 8-wide partial sums wait in `partial` (L1-sized) until the row ends.
    for (int64_t m = row_begin; m < row_end; ++m) {
        const float* x = a.x_row(m);
        std::fill(partial, partial + a.rank * 8, 0.0f);
        for (int64_t g = 0; g < groups; ++g) {
            __m256 v[8];
            SVDQ_UNROLL
            for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(x + g * 64 + i * 8);
            for (int64_t r = 0; r < a.rank; ++r) {
                const uint16_t* down = a.down_row(r) + g * 64;
                __m256 acc = _mm256_mul_ps(v[0], avx2::load_bf16(down));
                SVDQ_UNROLL
                for (int i = 1; i < 8; ++i) acc = _mm256_fmadd_ps(v[i], avx2::load_bf16(down + i * 8), acc);
                float* p = partial + r * 8;
                _mm256_store_ps(p, _mm256_add_ps(_mm256_load_ps(p), acc));
            }
            __m256 absmax = _mm256_setzero_ps();
            SVDQ_UNROLL
            for (int i = 0; i < 8; ++i) {
                // The branch above read the raw X; the quantizer reads X + shift.
                v[i] = _mm256_add_ps(v[i], shift);
                if (a.inv_smooth != nullptr) v[i] = _mm256_mul_ps(v[i], _mm256_loadu_ps(a.inv_smooth + g * 64 + i * 8));
                absmax = _mm256_max_ps(absmax, _mm256_andnot_ps(sign, v[i]));
            }
            const float amax = avx2::hmax(absmax);
            const __m256 inv = _mm256_set1_ps(amax > 0.0f ? levels / amax : 0.0f);
            __m256i sum = _mm256_setzero_si256();
            int8_t* q = a.q_row(m) + g * 64;
            SVDQ_UNROLL
            for (int i = 0; i < 8; i += 2) {
                // cvtps rounds to nearest even under the default MXCSR, like nearbyint.
                __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));
                __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[i + 1], inv));
                q0 = _mm256_min_epi32(_mm256_max_epi32(q0, lo), hi);
                q1 = _mm256_min_epi32(_mm256_max_epi32(q1, lo), hi);
                sum = _mm256_add_epi32(sum, _mm256_add_epi32(q0, q1));
                // 16 int32 -> 16 int8 in order (packs works per 128-bit lane).
                const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), _MM_SHUFFLE(3, 1, 2, 0));
                const __m128i b8 = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i * 8), b8);
            }
            a.scales_row(m)[g] = amax / levels;
            a.sums_row(m)[g] = avx2::hsum_epi32(sum);
        }
        for (int64_t r = 0; r < a.rank; ++r) a.lowrank_act[m * a.rank + r] = avx2::hsum(_mm256_load_ps(partial + r * 8));
    }
}

}  // namespace svdq
SVDQ_AVX2_END
