// fp32 attention on 512-bit registers (the avx512 levels): attention_avx2's
// blocking (see its comments) with one 16-query panel per zmm instead of two
// ymm, and two panels per register tile, so each K or V broadcast feeds two
// FMAs. Every lane runs the AVX2 kernel's operations in its order (the same
// FMAs over head dims and keys, avx512::exp's values being avx2::exp's), so
// its results are attention_avx2's bit for bit and float models keep their
// results across the AVX levels; the text encoders' bias and masks too
// (attention_blocks.h's add_bias, as the AVX2 kernel applies them).
#include <algorithm>
#include <limits>

#include "backend/cpu/attention_blocks.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512_BEGIN
namespace svdq {

namespace {

using namespace attention_blocks;

// Queries sharing one packed K and V block (the table's tile).
constexpr int64_t kQueryBlock = 1024;
constexpr int64_t kKeyBlock = 128;
constexpr int kMaxRows = 8;  // keys or head dims per register tile
constexpr int kPanels = 2;   // query panels per register tile: 8 x 2 accumulators

// Scores of MR keys (packed K rows, `ld` apart) against NP Q^T panels
// [d][16] (d * 16 floats apart), stored to panel i's p + i * kKeyBlock * 16
// as [MR][16]; folds them into each panel's running block max.
template <int MR, int NP>
void scores(const float* keys, int64_t ld, const float* qt, int64_t d, float* p, __m512* block_max) {
    __m512 acc[MR][NP];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_setzero_ps();
    }
    for (int64_t t = 0; t < d; ++t) {
        __m512 q[NP];
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) q[i] = _mm512_load_ps(qt + i * d * kLanes + t * kLanes);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m512 key = _mm512_set1_ps(keys[r * ld + t]);
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_fmadd_ps(key, q[i], acc[r][i]);
        }
    }
    SVDQ_UNROLL
    for (int i = 0; i < NP; ++i) {
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            _mm512_store_ps(p + i * kKeyBlock * kLanes + r * kLanes, acc[r][i]);
            block_max[i] = _mm512_max_ps(block_max[i], acc[r][i]);
        }
    }
}

// p = exp(p - m_new) in place over nk keys, m and l updated; returns the
// correction exp(m_old - m_new) that rescales the panel's output.
__m512 softmax_block(float* p, int64_t nk, __m512 block_max, float* m, float* l) {
    // At least float's lowest, so a block whose scores are all masked (-inf) gives no -inf - -inf.
    const __m512 m_old = _mm512_load_ps(m),
                 m_new = _mm512_max_ps(_mm512_max_ps(m_old, block_max), _mm512_set1_ps(std::numeric_limits<float>::lowest()));
    // m_old = -inf on the first block: exp clamps its argument, giving ~1e-38 times zeros.
    const __m512 correction = avx512::exp(_mm512_sub_ps(m_old, m_new));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nk; ++j) {
        const __m512 e = avx512::exp(_mm512_sub_ps(_mm512_load_ps(p + j * kLanes), m_new));
        _mm512_store_ps(p + j * kLanes, e);
        sum = _mm512_add_ps(sum, e);
    }
    _mm512_store_ps(l, _mm512_fmadd_ps(_mm512_load_ps(l), correction, sum));
    _mm512_store_ps(m, m_new);
    return correction;
}

// Head dims [t0, t0 + MR) of NP panels' O^T ([MR][16] at ot + i * d * 16),
// with v at dim t0 of the packed V rows (ld apart) and panel i's P^T at
// p + i * kKeyBlock * 16: ot = ot * correction + sum over nk keys of
// v[j][:] * p[j][:].
template <int MR, int NP>
void accumulate_pv(const float* v, int64_t ld, const float* p, int64_t nk, const __m512* correction, float* ot, int64_t d) {
    __m512 acc[MR][NP];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_mul_ps(_mm512_load_ps(ot + i * d * kLanes + r * kLanes), correction[i]);
    }
    for (int64_t j = 0; j < nk; ++j) {
        __m512 pj[NP];
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) pj[i] = _mm512_load_ps(p + i * kKeyBlock * kLanes + j * kLanes);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m512 value = _mm512_set1_ps(v[j * ld + r]);
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_fmadd_ps(value, pj[i], acc[r][i]);
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) _mm512_store_ps(ot + i * d * kLanes + r * kLanes, acc[r][i]);
    }
}

// Queries [q0, q1), at most kQueryBlock of them, of one head.
// scratch: attention_avx512_scratch floats.
void attend_block(const AttentionArgs& a, int64_t head, int64_t q0, int64_t q1, float* scratch) {
    const int64_t d = a.head_dim, nq = q1 - q0, panels = (nq + kLanes - 1) / kLanes;
    const int64_t panel_size = d * kLanes, ld = odd_lines(d);
    float* const qt = scratch;                           // [panels][d][16]
    float* const ot = qt + panels * panel_size;          // [panels][d][16]
    float* const p = ot + panels * panel_size;           // [kPanels][kKeyBlock][16]
    float* const m = p + kPanels * kKeyBlock * kLanes;   // [panels][16]
    float* const l = m + panels * kLanes;                // [panels][16]
    float* const kp = l + panels * kLanes;               // [kKeyBlock][ld]
    float* const vp = kp + kKeyBlock * ld;               // [kKeyBlock][ld]

    std::fill(qt, p, 0.0f);  // zero O^T, and Q^T lanes past q1
    transpose_queries(a, head, q0, nq, a.scale, qt);
    std::fill(m, l, -std::numeric_limits<float>::infinity());
    std::fill(l, l + panels * kLanes, 0.0f);

    const int64_t keys = keys_seen(a, q1);
    for (int64_t k0 = 0; k0 < keys; k0 += kKeyBlock) {
        const int64_t nk = std::min(kKeyBlock, keys - k0);
        copy_key_rows(a, head, k0, nk, ld, kp, vp);
        avx2::in_row_tiles<kPanels>(0, panels, [&](auto np, int64_t pn) {
            constexpr int NP = decltype(np)::value;
            prefetch_next_block(a, head, k0, kKeyBlock, pn, NP, panels);  // this panel group's share
            __m512 block_max[NP], correction[NP];
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i) block_max[i] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
            avx2::in_row_tiles<kMaxRows>(0, nk, [&](auto mr, int64_t j) {
                scores<decltype(mr)::value, NP>(kp + j * ld, ld, qt + pn * panel_size, d, p + j * kLanes, block_max);
            });
            if (a.biased()) {
                alignas(64) float lane_max[kLanes];
                SVDQ_UNROLL
                for (int i = 0; i < NP; ++i) {
                    const int64_t first = (pn + i) * kLanes;
                    add_bias(a, head, q0 + first, std::min(kLanes, nq - first), k0, nk, p + i * kKeyBlock * kLanes, lane_max);
                    block_max[i] = _mm512_load_ps(lane_max);
                }
            }
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i)
                correction[i] = softmax_block(p + i * kKeyBlock * kLanes, nk, block_max[i], m + (pn + i) * kLanes, l + (pn + i) * kLanes);
            avx2::in_row_tiles<kMaxRows>(0, d, [&](auto mr, int64_t t) {
                accumulate_pv<decltype(mr)::value, NP>(vp + t, ld, p, nk, correction, ot + pn * panel_size + t * kLanes, d);
            });
        });
    }

    store_output(a, head, q0, nq, ot, l);
}

}  // namespace

// A full query block's Q^T and O^T [panels][d][16], a panel group's P^T
// [kPanels][kKeyBlock][16], running max and sum [panels][16], the packed K
// and V blocks [kKeyBlock][ld].
size_t attention_avx512_scratch(const AttentionArgs& a) {
    const int64_t d = a.head_dim, panels = kQueryBlock / kLanes;
    return static_cast<size_t>(2 * panels * d * kLanes + kPanels * kKeyBlock * kLanes + 2 * panels * kLanes + 2 * kKeyBlock * odd_lines(d));
}

void attention_avx512(const AttentionArgs& a, const AttentionTile& t, float* scratch) {
    for (int64_t q0 = t.q0; q0 < t.q1; q0 += kQueryBlock)
        attend_block(a, t.head, q0, std::min(t.q1, q0 + kQueryBlock), scratch);
}

}  // namespace svdq
SVDQ_AVX512_END
