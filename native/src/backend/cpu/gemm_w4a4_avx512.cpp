#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

namespace {

// MR tokens x NP panels of 16 output columns (pack_w4a4_avx512). Per
// 64-group and token: 16 vpdpbusd per panel, each adding 4 products of u8
// weight nibbles w + 8 (0..15) and s8 activations straight into an int32 lane
// (no int16 stage to saturate), the +8 offset removed with the group's
// activation sum (sum((w + 8) a) - 8 sum(a) = sum(w a)), then the same float
// FMA with both scales as the AVX2 kernel, lane for lane, so the two levels
// agree bit for bit. Exact: |sum(w a)| <= 64 * 8 * 15 = 7680 < 2^24.
// Two panels share each activation broadcast, and 6 x 2 int32 chains keep
// both vpdpbusd pipes busy past the instruction's latency; the 8 steps of a
// group are unrolled so the chains stay in fixed registers (GCC otherwise
// copies them between registers every step).
// One K block: the first starts from zero, later ones continue from the
// partial sums left in y, the last adds the branch and runs the epilogue.
template <int MR, int NP>
void w4a4_rows(const GemmW4A4Args& a, const avx2::KBlock& kb, int64_t m0, int64_t n0, int width) {
    const int64_t k = a.w->k, n = a.w->n, groups = k / 64;
    const int64_t panel = n0 / 16;
    const uint8_t* wq = a.w->bytes() + panel * k * 8;
    const uint16_t* ws = a.w->scales.data() + panel * groups * 16;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    int widths[NP];
    __mmask16 lanes[NP];
    SVDQ_UNROLL
    for (int p = 0; p < NP; ++p) {
        widths[p] = std::min(width - 16 * p, 16);
        lanes[p] = avx512::first_lanes(widths[p]);
    }

    __m512 acc[MR][NP];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int p = 0; p < NP; ++p)
            acc[r][p] = kb.first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lanes[p], a.y + (m0 + r) * n + n0 + 16 * p);
    }
    for (int64_t g = kb.k0 / 64; g < (kb.k0 + kb.kc) / 64; ++g) {
        __m512i dot[MR][NP];
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            SVDQ_UNROLL
            for (int p = 0; p < NP; ++p) dot[r][p] = _mm512_setzero_si512();
        }
        SVDQ_UNROLL
        for (int c = 0; c < 8; ++c) {
            __m512i lo[NP], hi[NP];
            SVDQ_UNROLL
            for (int p = 0; p < NP; ++p) {
                const __m512i packed = _mm512_load_si512(wq + p * k * 8 + (g * 8 + c) * 64);
                lo[p] = _mm512_and_si512(packed, low4);
                hi[p] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low4);
            }
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r) {
                const int8_t* xq = a.qx + (m0 + r) * k + g * 64 + c * 8;
                int32_t quad0, quad1;
                std::memcpy(&quad0, xq, 4);
                std::memcpy(&quad1, xq + 4, 4);
                const __m512i x0 = _mm512_set1_epi32(quad0), x1 = _mm512_set1_epi32(quad1);
                SVDQ_UNROLL
                for (int p = 0; p < NP; ++p) dot[r][p] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(dot[r][p], lo[p], x0), hi[p], x1);
            }
        }
        __m512 wscale[NP];
        SVDQ_UNROLL
        for (int p = 0; p < NP; ++p) wscale[p] = avx512::load_bf16(ws + p * groups * 16 + g * 16);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const int64_t row = (m0 + r) * groups + g;
            const __m512i offset = _mm512_set1_epi32(8 * a.gx[row]);
            const __m512 sx = _mm512_set1_ps(a.sx[row]);
            SVDQ_UNROLL
            for (int p = 0; p < NP; ++p) {
                const __m512 exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(dot[r][p], offset));
                acc[r][p] = _mm512_fmadd_ps(exact, _mm512_mul_ps(sx, wscale[p]), acc[r][p]);
            }
        }
    }
    if (!kb.last) {
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            SVDQ_UNROLL
            for (int p = 0; p < NP; ++p) _mm512_mask_storeu_ps(a.y + (m0 + r) * n + n0 + 16 * p, lanes[p], acc[r][p]);
        }
        return;
    }
    if (a.lowrank_act != nullptr) {
        const uint16_t* up = a.lowrank_up->halves() + panel * a.rank * 16;
        for (int64_t q = 0; q < a.rank; ++q) {
            __m512 u[NP];
            SVDQ_UNROLL
            for (int p = 0; p < NP; ++p) u[p] = avx512::load_bf16(up + (p * a.rank + q) * 16);
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r) {
                const __m512 l = _mm512_set1_ps(a.lowrank_act[(m0 + r) * a.rank + q]);
                SVDQ_UNROLL
                for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_fmadd_ps(l, u[p], acc[r][p]);
            }
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int p = 0; p < NP; ++p)
            avx512::finish_store(acc[r][p], a.epilogue, m0 + r, n0 + 16 * p, widths[p], a.y + (m0 + r) * n + n0 + 16 * p);
    }
}

}  // namespace

void gemm_w4a4_avx512(const GemmW4A4Args& a, const Tile& t) {
    // K blocks of 1024 keep the tile's int8 rows (96 x 1 KiB) in L2 and a
    // panel pair's weights (16 KiB) in L1 across all of the tile's rows.
    avx2::for_each_k_block(a.w->k, 1024, [&](const avx2::KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 32) {
            const int width = static_cast<int>(std::min<int64_t>(32, t.n1 - n0));
            avx2::in_row_tiles<6>(t.m0, t.m1, [&](auto mr, int64_t m) {
                if (width > 16)
                    w4a4_rows<decltype(mr)::value, 2>(a, kb, m, n0, width);
                else
                    w4a4_rows<decltype(mr)::value, 1>(a, kb, m, n0, width);
            });
        }
    });
}

}  // namespace svdq
SVDQ_AVX512_END
