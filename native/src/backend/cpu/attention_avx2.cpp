// AVX2 + FMA attention, blocked like a GEMM. Queries go in panels of 16, one
// query per lane of two registers, so everything per query (running max,
// running sum, rescale, normalisation) is a lane-wise op and the softmax
// needs no horizontal reductions:
//   scores  S^T = K Q^T   the float GEMM micro-kernel: 6 keys broadcast from
//                         K's rows against a packed [d][16] panel of Q^T
//   softmax p = exp(S^T - m) with the block max taken while storing S^T
//   output  O^T = O^T * correction + V^T P^T: 6 head dims broadcast from V's
//                         rows against [keys][16] of P^T
// Keys go in blocks of 128, their K and V rows copied together
// (attention_blocks.h), so a panel's P^T (8 KiB) stays in L1 and the K and V
// blocks (72 KiB each at d = 128) in L2 while the query block's panels (64
// in a 1024-query tile) reuse them (with 4 panels per block, K and V's trips
// from L3 cost a third of the speed at 4608 tokens). Any head_dim and token count: key and head-dim tails take
// narrower register tiles, a partial query panel is padded with zero queries.
// The text encoders' bias and masks join a panel's scores before its
// softmax (attention_blocks.h's add_bias); a causal query block stops at its
// last query's key.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "backend/cpu/attention_blocks.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

namespace {

using namespace attention_blocks;

// Queries sharing one packed K and V block (the table's tile): 1024
// amortise the packing (256: ~7% slower at 4608 tokens).
constexpr int64_t kQueryBlock = 1024;
constexpr int64_t kKeyBlock = 128;

// Scores of MR keys (packed K rows, `stride` apart) against one Q^T panel [d][16],
// stored to p [MR][16]; folds them into the running block max.
template <int MR>
void scores(const float* keys, int64_t stride, const float* qt, int64_t d, float* p, __m256 (&block_max)[2]) {
    __m256 acc[MR][2];
    avx2::f32_panel<MR>(keys, stride, qt, d, acc);
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        _mm256_store_ps(p + r * kLanes, acc[r][0]);
        _mm256_store_ps(p + r * kLanes + 8, acc[r][1]);
        block_max[0] = _mm256_max_ps(block_max[0], acc[r][0]);
        block_max[1] = _mm256_max_ps(block_max[1], acc[r][1]);
    }
}

// Head dims [t0, t0 + MR) of one panel's O^T ([MR][16] at ot), with v at
// dim t0 of the packed V rows (ld apart):
// ot = ot * correction + sum over nk keys of v[j][:] * p[j][:].
template <int MR>
void accumulate_pv(const float* v, int64_t ld, const float* p, int64_t nk, const __m256 (&correction)[2], float* ot) {
    __m256 acc[MR][2];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        acc[r][0] = _mm256_mul_ps(_mm256_load_ps(ot + r * kLanes), correction[0]);
        acc[r][1] = _mm256_mul_ps(_mm256_load_ps(ot + r * kLanes + 8), correction[1]);
    }
    for (int64_t j = 0; j < nk; ++j) {
        const __m256 p0 = _mm256_load_ps(p + j * kLanes), p1 = _mm256_load_ps(p + j * kLanes + 8);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m256 b = _mm256_broadcast_ss(v + j * ld + r);
            acc[r][0] = _mm256_fmadd_ps(b, p0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(b, p1, acc[r][1]);
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        _mm256_store_ps(ot + r * kLanes, acc[r][0]);
        _mm256_store_ps(ot + r * kLanes + 8, acc[r][1]);
    }
}

// p = exp(p - m_new) in place over nk keys, m and l updated; sets the
// correction exp(m_old - m_new) that rescales the panel's output.
void softmax_block(float* p, int64_t nk, const __m256 (&block_max)[2], float* m, float* l, __m256 (&correction)[2]) {
    for (int h = 0; h < 2; ++h) {
        const __m256 m_old = _mm256_load_ps(m + 8 * h);
        // At least float's lowest, so a block whose scores are all masked (-inf) gives no -inf - -inf.
        const __m256 m_new = _mm256_max_ps(_mm256_max_ps(m_old, block_max[h]), _mm256_set1_ps(std::numeric_limits<float>::lowest()));
        // m_old = -inf on the first block: exp clamps its argument, giving ~1e-38 times zeros.
        correction[h] = avx2::exp(_mm256_sub_ps(m_old, m_new));
        __m256 sum = _mm256_setzero_ps();
        for (int64_t j = 0; j < nk; ++j) {
            float* pj = p + j * kLanes + 8 * h;
            const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_load_ps(pj), m_new));
            _mm256_store_ps(pj, e);
            sum = _mm256_add_ps(sum, e);
        }
        _mm256_store_ps(l + 8 * h, _mm256_fmadd_ps(_mm256_load_ps(l + 8 * h), correction[h], sum));
        _mm256_store_ps(m + 8 * h, m_new);
    }
}

// Queries [q0, q1), at most kQueryBlock of them, of one head.
// scratch: attention_avx2_scratch floats.
void attend_block(const AttentionArgs& a, int64_t head, int64_t q0, int64_t q1, float* scratch) {
    const int64_t d = a.head_dim, nq = q1 - q0, panels = (nq + kLanes - 1) / kLanes;
    const int64_t panel_size = d * kLanes, ld = odd_lines(d), block_size = kKeyBlock * ld;
    float* const qt = scratch;
    float* const ot = qt + panels * panel_size;
    float* const p = ot + panels * panel_size;
    float* const m = p + kKeyBlock * kLanes;
    float* const l = m + panels * kLanes;
    float* const kp = l + panels * kLanes;
    float* const vp = kp + block_size;

    std::fill(qt, p, 0.0f);  // zero O^T, and Q^T lanes past q1
    transpose_queries(a, head, q0, nq, a.scale, qt);
    std::fill(m, l, -std::numeric_limits<float>::infinity());
    std::fill(l, l + panels * kLanes, 0.0f);

    const int64_t keys = keys_seen(a, q1);
    for (int64_t k0 = 0; k0 < keys; k0 += kKeyBlock) {
        const int64_t nk = std::min(kKeyBlock, keys - k0);
        copy_key_rows(a, head, k0, nk, ld, kp, vp);
        prefetch_next_block(a, head, k0, kKeyBlock, 0, panels, panels);
        for (int64_t pn = 0; pn < panels; ++pn) {
            const float* qt_panel = qt + pn * panel_size;
            __m256 block_max[2] = {_mm256_set1_ps(-std::numeric_limits<float>::infinity()),
                                   _mm256_set1_ps(-std::numeric_limits<float>::infinity())};
            avx2::in_row_tiles<6>(0, nk, [&](auto mr, int64_t j) {
                scores<decltype(mr)::value>(kp + j * ld, ld, qt_panel, d, p + j * kLanes, block_max);
            });
            if (a.biased()) {
                alignas(32) float lane_max[kLanes];
                add_bias(a, head, q0 + pn * kLanes, std::min(kLanes, nq - pn * kLanes), k0, nk, p, lane_max);
                block_max[0] = _mm256_load_ps(lane_max);
                block_max[1] = _mm256_load_ps(lane_max + 8);
            }
            __m256 correction[2];
            softmax_block(p, nk, block_max, m + pn * kLanes, l + pn * kLanes, correction);
            float* ot_panel = ot + pn * panel_size;
            avx2::in_row_tiles<6>(0, d, [&](auto mr, int64_t t) {
                accumulate_pv<decltype(mr)::value>(vp + t, ld, p, nk, correction, ot_panel + t * kLanes);
            });
        }
    }

    store_output(a, head, q0, nq, ot, l);
}

}  // namespace

// A full query block's: Q^T and O^T [panels][d][16], one panel's P^T
// [kKeyBlock][16], running max and sum [panels][16], the packed K and V
// blocks [kKeyBlock][ld].
size_t attention_avx2_scratch(const AttentionArgs& a) {
    const int64_t d = a.head_dim, panels = kQueryBlock / kLanes;
    return static_cast<size_t>(2 * panels * d * kLanes + kKeyBlock * kLanes + 2 * panels * kLanes + 2 * kKeyBlock * odd_lines(d));
}

void attention_avx2(const AttentionArgs& a, const AttentionTile& t, float* scratch) {
    for (int64_t q0 = t.q0; q0 < t.q1; q0 += kQueryBlock)
        attend_block(a, t.head, q0, std::min(t.q1, q0 + kQueryBlock), scratch);
}

}  // namespace svdq
SVDQ_AVX2_END
