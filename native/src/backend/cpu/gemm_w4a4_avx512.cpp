#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

namespace {

// MR tokens x one panel of 16 output columns (pack_w4a4_avx512). Per
// 64-group: 16 vpdpbusd, each adding 4 products of u8 weight nibbles
// w + 8 (0..15) and s8 activations straight into an int32 lane (no int16
// stage to saturate), the +8 offset removed with the group's activation sum
// (sum((w + 8) a) - 8 sum(a) = sum(w a)), then the same float FMA with both
// scales as the AVX2 kernel, lane for lane, so the two levels agree bit for
// bit. Exact: |sum(w a)| <= 64 * 8 * 15 = 7680 < 2^24.
// One K block: the first starts from zero, later ones continue from the
// partial sums left in y, the last adds the branch and runs the epilogue.
template <int MR>
void w4a4_rows(const GemmW4A4Args& a, const avx2::KBlock& kb, int64_t m0, int64_t n0, int width) {
    const int64_t k = a.w->k, n = a.w->n, groups = k / 64;
    const int64_t panel = n0 / 16;
    const uint8_t* wq = a.w->bytes() + panel * k * 8;
    const uint16_t* ws = a.w->scales.data() + panel * groups * 16;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __mmask16 lanes = avx512::first_lanes(width);

    __m512 acc[MR];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) acc[r] = kb.first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lanes, a.y + (m0 + r) * n + n0);
    for (int64_t g = kb.k0 / 64; g < (kb.k0 + kb.kc) / 64; ++g) {
        __m512i dot[MR];
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) dot[r] = _mm512_setzero_si512();
        for (int c = 0; c < 8; ++c) {
            const __m512i packed = _mm512_load_si512(wq + (g * 8 + c) * 64);
            const __m512i lo = _mm512_and_si512(packed, low4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low4);
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r) {
                const int8_t* xq = a.qx + (m0 + r) * k + g * 64 + c * 8;
                int32_t quad0, quad1;
                std::memcpy(&quad0, xq, 4);
                std::memcpy(&quad1, xq + 4, 4);
                dot[r] = _mm512_dpbusd_epi32(dot[r], lo, _mm512_set1_epi32(quad0));
                dot[r] = _mm512_dpbusd_epi32(dot[r], hi, _mm512_set1_epi32(quad1));
            }
        }
        const __m512 wscale = avx512::load_bf16(ws + g * 16);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const int64_t row = (m0 + r) * groups + g;
            const __m512i exact = _mm512_sub_epi32(dot[r], _mm512_set1_epi32(8 * a.gx[row]));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(_mm512_set1_ps(a.sx[row]), wscale), acc[r]);
        }
    }
    if (!kb.last) {
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) _mm512_mask_storeu_ps(a.y + (m0 + r) * n + n0, lanes, acc[r]);
        return;
    }
    if (a.lowrank_act != nullptr) {
        const uint16_t* up = a.lowrank_up->halves() + panel * a.rank * 16;
        for (int64_t q = 0; q < a.rank; ++q) {
            const __m512 u = avx512::load_bf16(up + q * 16);
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r)
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a.lowrank_act[(m0 + r) * a.rank + q]), u, acc[r]);
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) avx512::finish_store(acc[r], a.epilogue, m0 + r, n0, width, a.y + (m0 + r) * n + n0);
}

}  // namespace

void gemm_w4a4_avx512(const GemmW4A4Args& a, const Tile& t) {
    // K blocks of 1024 keep the tile's int8 rows (96 x 1 KiB) in L2 across
    // all of its panels, whatever K is.
    avx2::for_each_k_block(a.w->k, 1024, [&](const avx2::KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 16) {
            const int width = static_cast<int>(std::min<int64_t>(16, t.n1 - n0));
            avx2::in_row_tiles<8>(t.m0, t.m1, [&](auto mr, int64_t m) { w4a4_rows<decltype(mr)::value>(a, kb, m, n0, width); });
        }
    });
}

}  // namespace svdq
SVDQ_AVX512_END
