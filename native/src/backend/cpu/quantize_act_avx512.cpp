#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

namespace {

// Tokens per pass of the down-projection: 8 x 2 accumulators in registers,
// each BF16 vector of down' widened once for all of them.
constexpr int kRowsPerPass = 8;

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

// The down-projection of tokens [m0, m0 + R) for ranks [q0, q0 + 16 W),
// lanes over ranks: per k, x[r][k] times down'[k][q0 ...] into R x W
// accumulators that stay in registers, so each rank's sum comes out whole
// (no partial sums in memory, no horizontal adds).
template <int R, int W>
void down_project(const QuantizeActArgs& a, int64_t m0, int64_t q0) {
    __mmask16 lanes[W];
    SVDQ_UNROLL
    for (int w = 0; w < W; ++w) lanes[w] = avx512::first_lanes(static_cast<int>(std::clamp<int64_t>(a.rank - q0 - 16 * w, 0, 16)));
    __m512 acc[R][W];
    SVDQ_UNROLL
    for (int r = 0; r < R; ++r) {
        SVDQ_UNROLL
        for (int w = 0; w < W; ++w) acc[r][w] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < a.k; ++j) {
        const uint16_t* down = a.down_column(j) + q0;
        __m512 d[W];
        SVDQ_UNROLL
        for (int w = 0; w < W; ++w) d[w] = avx512::load_bf16(down + 16 * w, lanes[w]);
        SVDQ_UNROLL
        for (int r = 0; r < R; ++r) {
            const __m512 x = _mm512_set1_ps(a.x_row(m0 + r)[j]);
            SVDQ_UNROLL
            for (int w = 0; w < W; ++w) acc[r][w] = _mm512_fmadd_ps(x, d[w], acc[r][w]);
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < R; ++r) {
        SVDQ_UNROLL
        for (int w = 0; w < W; ++w) _mm512_mask_storeu_ps(a.lowrank_act + (m0 + r) * a.rank + q0 + 16 * w, lanes[w], acc[r][w]);
    }
}

// Tokens [m0, m0 + R): the down-projection of the raw X, 32 ranks at a
// time, then each 64-group quantized (X's rows are in cache by then).
template <int R>
void quantize_rows(const QuantizeActArgs& a, int64_t m0) {
    for (int64_t q0 = 0; q0 < a.rank; q0 += 32) {
        if (a.rank - q0 > 16)
            down_project<R, 2>(a, m0, q0);
        else
            down_project<R, 1>(a, m0, q0);
    }
    for (int r = 0; r < R; ++r)
        for (int64_t g = 0; g < a.k / 64; ++g) {
            __m512 v[4];
            SVDQ_UNROLL
            for (int i = 0; i < 4; ++i) v[i] = _mm512_loadu_ps(a.x_row(m0 + r) + g * 64 + i * 16);
            quantize_group(a, v, m0 + r, g);
        }
}

}  // namespace

// quantize_act_avx2 sixteen lanes wide, kRowsPerPass tokens at a time, on
// the k-major down-projection (CpuKernels::lowrank_down_k_major); its
// rounding differs from the other levels' within float accuracy (its sums
// run in another order).
void quantize_act_avx512(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float*) {
    avx2::in_row_tiles<kRowsPerPass>(row_begin, row_end, [&](auto rows, int64_t m) { quantize_rows<decltype(rows)::value>(a, m); });
}

}  // namespace svdq
SVDQ_AVX512_END
