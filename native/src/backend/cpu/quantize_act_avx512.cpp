#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

// Per rank, 16-wide partial sums of the down-projection (aligned: the
// pool's buffers are).
size_t quantize_act_avx512_scratch(const QuantizeActArgs& a) { return static_cast<size_t>(a.rank * 16); }

// quantize_act_avx2 with one 64-group in four zmm registers: the same
// arithmetic as the scalar reference (add the shift, multiply by 1 / lambda,
// then by levels / absmax, round half to even), so q, scales and sums agree
// bit for bit with every level; the down-projection of the raw X is summed
// 16 lanes wide (its rounding differs from the other levels' within float
// accuracy).
void quantize_act_avx512(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* partial) {
    const int64_t groups = a.k / 64;
    const float levels = a.encoding.is_unsigned ? 15.0f : 7.0f;
    const __m512i lo = _mm512_set1_epi32(a.encoding.is_unsigned ? 0 : -8);
    const __m512i hi = _mm512_set1_epi32(static_cast<int>(levels));
    const __m512 shift = _mm512_set1_ps(a.encoding.shift);
    for (int64_t m = row_begin; m < row_end; ++m) {
        const float* x = a.x + m * a.k;
        std::fill(partial, partial + a.rank * 16, 0.0f);
        for (int64_t g = 0; g < groups; ++g) {
            __m512 v[4];
            SVDQ_UNROLL
            for (int i = 0; i < 4; ++i) v[i] = _mm512_loadu_ps(x + g * 64 + i * 16);
            for (int64_t r = 0; r < a.rank; ++r) {
                const uint16_t* down = a.lowrank_down + r * a.k + g * 64;
                __m512 acc = _mm512_mul_ps(v[0], avx512::load_bf16(down));
                SVDQ_UNROLL
                for (int i = 1; i < 4; ++i) acc = _mm512_fmadd_ps(v[i], avx512::load_bf16(down + i * 16), acc);
                float* p = partial + r * 16;
                _mm512_store_ps(p, _mm512_add_ps(_mm512_load_ps(p), acc));
            }
            __m512 absmax = _mm512_setzero_ps();
            SVDQ_UNROLL
            for (int i = 0; i < 4; ++i) {
                // The branch above read the raw X; the quantizer reads X + shift.
                v[i] = _mm512_add_ps(v[i], shift);
                if (a.inv_smooth != nullptr) v[i] = _mm512_mul_ps(v[i], _mm512_loadu_ps(a.inv_smooth + g * 64 + i * 16));
                absmax = _mm512_max_ps(absmax, _mm512_abs_ps(v[i]));
            }
            const float amax = _mm512_reduce_max_ps(absmax);
            const __m512 inv = _mm512_set1_ps(amax > 0.0f ? levels / amax : 0.0f);
            __m512i sum = _mm512_setzero_si512();
            int8_t* q = a.out.q + m * a.k + g * 64;
            SVDQ_UNROLL
            for (int i = 0; i < 4; ++i) {
                // cvtps rounds to nearest even under the default MXCSR, like nearbyint.
                const __m512i qi = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v[i], inv)), lo), hi);
                sum = _mm512_add_epi32(sum, qi);
                _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i * 16), _mm512_cvtepi32_epi8(qi));
            }
            a.out.scales[m * groups + g] = amax / levels;
            a.out.sums[m * groups + g] = _mm512_reduce_add_epi32(sum);
        }
        for (int64_t r = 0; r < a.rank; ++r) a.lowrank_act[m * a.rank + r] = _mm512_reduce_add_ps(_mm512_load_ps(partial + r * 16));
    }
}

}  // namespace svdq
SVDQ_AVX512_END
