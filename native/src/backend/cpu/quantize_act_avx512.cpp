#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

namespace {

// Tokens per pass: each rank's BF16 down-projection vectors are widened once
// and feed this many tokens (widening cost as much as the FMAs when done per
// token, so the branch cost ~11% of a 3072 x 3072 layer instead of ~5%).
constexpr int kRowsPerPass = 4;

// One token's 64-group in v (raw X) quantized: the scalar reference's
// arithmetic (add the shift, multiply by 1 / lambda, then by levels / absmax,
// round half to even), so q, scale and sum agree bit for bit with every level.
inline void quantize_group(const QuantizeActArgs& a, __m512 (&v)[4], int64_t m, int64_t g) {
    const float levels = a.encoding.is_unsigned ? 15.0f : 7.0f;
    const __m512 shift = _mm512_set1_ps(a.encoding.shift);
    __m512 absmax = _mm512_setzero_ps();
    SVDQ_UNROLL
    for (int i = 0; i < 4; ++i) {
        // The branch read the raw X; the quantizer reads X + shift.
        v[i] = _mm512_add_ps(v[i], shift);
        if (a.inv_smooth != nullptr) v[i] = _mm512_mul_ps(v[i], _mm512_loadu_ps(a.inv_smooth + g * 64 + i * 16));
        absmax = _mm512_max_ps(absmax, _mm512_abs_ps(v[i]));
    }
    const float amax = _mm512_reduce_max_ps(absmax);
    const __m512 inv = _mm512_set1_ps(amax > 0.0f ? levels / amax : 0.0f);
    const __m512i lo = _mm512_set1_epi32(a.encoding.is_unsigned ? 0 : -8);
    const __m512i hi = _mm512_set1_epi32(static_cast<int>(levels));
    __m512i sum = _mm512_setzero_si512();
    int8_t* q = a.q_row(m) + g * 64;
    SVDQ_UNROLL
    for (int i = 0; i < 4; ++i) {
        // cvtps rounds to nearest even under the default MXCSR, like nearbyint.
        const __m512i qi = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v[i], inv)), lo), hi);
        sum = _mm512_add_epi32(sum, qi);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i * 16), _mm512_cvtepi32_epi8(qi));
    }
    a.scales_row(m)[g] = amax / levels;
    a.sums_row(m)[g] = _mm512_reduce_add_epi32(sum);
}

// Tokens [m0, m0 + R): per 64-group, X is loaded once into registers that
// feed both the down-projection (16-wide partial sums per token and rank in
// `partial`, L1-sized) and the quantizer, so X is read exactly once.
template <int R>
void quantize_rows(const QuantizeActArgs& a, int64_t m0, float* partial) {
    const int64_t groups = a.k / 64;
    std::fill(partial, partial + R * a.rank * 16, 0.0f);
    for (int64_t g = 0; g < groups; ++g) {
        __m512 v[R][4];
        SVDQ_UNROLL
        for (int r = 0; r < R; ++r)
            SVDQ_UNROLL
            for (int i = 0; i < 4; ++i) v[r][i] = _mm512_loadu_ps(a.x_row(m0 + r) + g * 64 + i * 16);
        for (int64_t q = 0; q < a.rank; ++q) {
            const uint16_t* down = a.down_row(q) + g * 64;
            __m512 d[4];
            SVDQ_UNROLL
            for (int i = 0; i < 4; ++i) d[i] = avx512::load_bf16(down + i * 16);
            SVDQ_UNROLL
            for (int r = 0; r < R; ++r) {
                float* p = partial + (r * a.rank + q) * 16;
                __m512 acc = _mm512_load_ps(p);
                SVDQ_UNROLL
                for (int i = 0; i < 4; ++i) acc = _mm512_fmadd_ps(v[r][i], d[i], acc);
                _mm512_store_ps(p, acc);
            }
        }
        SVDQ_UNROLL
        for (int r = 0; r < R; ++r) quantize_group(a, v[r], m0 + r, g);
    }
    for (int r = 0; r < R; ++r)
        for (int64_t q = 0; q < a.rank; ++q)
            a.lowrank_act[(m0 + r) * a.rank + q] = _mm512_reduce_add_ps(_mm512_load_ps(partial + (r * a.rank + q) * 16));
}

}  // namespace

// Per token of a pass and rank, 16-wide partial sums of the down-projection
// (aligned: the pool's buffers are).
size_t quantize_act_avx512_scratch(const QuantizeActArgs& a) { return static_cast<size_t>(kRowsPerPass * a.rank * 16); }

// quantize_act_avx2 sixteen lanes wide and kRowsPerPass tokens at a time; the
// down-projection's rounding differs from the other levels' within float
// accuracy (its sums run in another order).
void quantize_act_avx512(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* partial) {
    avx2::in_row_tiles<kRowsPerPass>(row_begin, row_end,
                                     [&](auto rows, int64_t m) { quantize_rows<decltype(rows)::value>(a, m, partial); });
}

}  // namespace svdq
SVDQ_AVX512_END
