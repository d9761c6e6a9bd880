// Attention on BF16 dot products (vdpbf16ps, the avx512_bf16 level), tiled
// as attention_avx2.cpp is (see its comments): queries in panels of 16, one
// per lane of a zmm, so the online softmax is lane-wise; keys in blocks of
// 128 whose K and V rows are packed once per block for all of the query
// block's panels, taken two at a time so that each K or V broadcast feeds
// both. Q, K, V and P are rounded to BF16 (RNE); dot products, the running
// max and sum and the output accumulate in fp32:
//   scores  S^T = K Q^T      Q^T packed [d/2][16] in head-dim pairs, K's
//                            row pairs broadcast as 32-bit words; times
//                            the scale in fp32 as the scores are stored
//   softmax p = exp(S^T - m) in fp32, then rounded to BF16 in key pairs
//                            [keys/2][16]; the running sum adds the rounded
//                            values, so the weights the output uses sum to l
//   output  O^T = O^T * correction + V^T P^T, V packed transposed in key
//                            pairs [d][keys/2] and broadcast
// Any head_dim and token count: an odd head dim or key count is padded with
// a zero, a partial query panel with zero queries.
#include <algorithm>
#include <limits>

#include "backend/cpu/attention_blocks.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx512.h"
#include "core/half.h"

SVDQ_AVX512BF16_BEGIN
namespace svdq {

namespace {

using namespace attention_blocks;
using avx512bf16::as_bf16;

// Queries sharing one packed K and V block (the table's tile): packing
// converts K and V rows 12 KiB apart in FLUX, so each tile amortises it
// over 1024 queries (256: 1.2-1.45x the time at 4608 tokens).
constexpr int64_t kQueryBlock = 1024;
constexpr int64_t kKeyBlock = 128;
constexpr int kMaxRows = 8;   // keys or head dims per register tile
constexpr int kPanels = 2;    // query panels per register tile: 8 x 2 accumulators

// Head-dim pairs, and the packed K row stride in words.
int64_t dim_pairs(int64_t d) { return (d + 1) / 2; }

// Pairs (a[i], b[i]) of two 16-float vectors rounded to BF16, in word i.
__m512i interleave_bf16(__m512 a, __m512 b) {
    const __m512i idx = _mm512_setr_epi32(0x00100000, 0x00110001, 0x00120002, 0x00130003, 0x00140004, 0x00150005,
                                          0x00160006, 0x00170007, 0x00180008, 0x00190009, 0x001A000A, 0x001B000B,
                                          0x001C000C, 0x001D000D, 0x001E000E, 0x001F000F);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

// Scores of MR keys (packed K rows of `ld` words) against NP Q^T panels
// [pairs][16] words each (`qt_panels` words apart), times `scale`, stored
// to panel i's p + i * kKeyBlock * 16 as [MR][16]; folds them into each
// panel's running block max. Two panels share every K broadcast: one load
// per two vdpbf16ps, not one per product, which left the loads the limit.
template <int MR, int NP>
void scores(const uint32_t* keys, int64_t ld, const uint32_t* qt, int64_t qt_panels, int64_t pairs, __m512 scale, float* p,
            __m512* block_max) {
    __m512 acc[MR][NP];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_setzero_ps();
    }
    for (int64_t t = 0; t < pairs; ++t) {
        __m512bh q[NP];
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) q[i] = as_bf16(_mm512_load_si512(qt + i * qt_panels + t * kLanes));
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m512bh key = as_bf16(_mm512_set1_epi32(static_cast<int>(keys[r * ld + t])));
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], q[i], key);
        }
    }
    SVDQ_UNROLL
    for (int i = 0; i < NP; ++i) {
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m512 s = _mm512_mul_ps(acc[r][i], scale);
            _mm512_store_ps(p + i * kKeyBlock * kLanes + r * kLanes, s);
            block_max[i] = _mm512_max_ps(block_max[i], s);
        }
    }
}

// p = exp(p - m_new) over nk keys, rounded to BF16 into pp [nk/2][16] key
// pairs (a zero after an odd last key); m and l updated; returns the
// correction exp(m_old - m_new) that rescales the panel's output.
__m512 softmax_block(const float* p, int64_t nk, __m512 block_max, float* m, float* l, uint32_t* pp) {
    const __m512 m_old = _mm512_load_ps(m), m_new = _mm512_max_ps(m_old, block_max);
    // m_old = -inf on the first block: exp clamps its argument, giving ~1e-38 times zeros.
    const __m512 correction = avx512::exp(_mm512_sub_ps(m_old, m_new));
    const __m512bh ones = as_bf16(_mm512_set1_epi16(0x3F80));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < nk; j += 2) {
        const __m512 e0 = avx512::exp(_mm512_sub_ps(_mm512_load_ps(p + j * kLanes), m_new));
        const __m512 e1 = j + 1 < nk ? avx512::exp(_mm512_sub_ps(_mm512_load_ps(p + (j + 1) * kLanes), m_new)) : _mm512_setzero_ps();
        const __m512i pair = interleave_bf16(e0, e1);
        _mm512_store_si512(pp + j / 2 * kLanes, pair);
        sum = _mm512_dpbf16_ps(sum, as_bf16(pair), ones);
    }
    _mm512_store_ps(l, _mm512_fmadd_ps(_mm512_load_ps(l), correction, sum));
    _mm512_store_ps(m, m_new);
    return correction;
}

// Head dims [t0, t0 + MR) of NP panels' O^T ([MR][16] at ot + i * ot_panels),
// with v at dim t0 of the packed V^T rows (ld words apart) and panel i's
// P^T at pp + i * kKeyBlock / 2 * 16: ot = ot * correction + sum over the
// key pairs of v[t][pair] . pp[pair][:]. Panels share each V broadcast.
template <int MR, int NP>
void accumulate_pv(const uint32_t* v, int64_t ld, const uint32_t* pp, int64_t pairs, const __m512* correction, float* ot,
                   int64_t ot_panels) {
    __m512 acc[MR][NP];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_mul_ps(_mm512_load_ps(ot + i * ot_panels + r * kLanes), correction[i]);
    }
    for (int64_t j = 0; j < pairs; ++j) {
        __m512bh pj[NP];
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) pj[i] = as_bf16(_mm512_load_si512(pp + i * kKeyBlock / 2 * kLanes + j * kLanes));
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m512bh value = as_bf16(_mm512_set1_epi32(static_cast<int>(v[r * ld + j])));
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], pj[i], value);
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        SVDQ_UNROLL
        for (int i = 0; i < NP; ++i) _mm512_store_ps(ot + i * ot_panels + r * kLanes, acc[r][i]);
    }
}

// Keys [k0, k0 + nk) of one head: K rows as BF16 [nk][kld words] (head dims
// padded with zeros to whole 16-float chunks), V transposed as BF16 key
// pairs [d][vld words] (a zero key after an odd last one).
void pack_block(const AttentionArgs& a, int64_t head, int64_t k0, int64_t nk, int64_t kld, int64_t vld, uint32_t* kp, uint32_t* vp) {
    const int64_t d = a.head_dim, stride = a.heads * d;
    for (int64_t j = 0; j < nk; ++j) {
        const float* krow = a.k + (k0 + j) * stride + head * d;
        for (int64_t t = 0; t < d; t += 16) {
            const __m512 v = _mm512_maskz_loadu_ps(avx512::first_lanes(static_cast<int>(std::min<int64_t>(16, d - t))), krow + t);
            _mm256_store_si256(reinterpret_cast<__m256i*>(kp + j * kld + t / 2), (__m256i)_mm512_cvtneps_pbh(v));
        }
    }
    alignas(64) uint32_t words[kLanes];
    for (int64_t j = 0; j < nk; j += 2) {
        const float* v0 = a.v + (k0 + j) * stride + head * d;
        const float* v1 = j + 1 < nk ? v0 + stride : nullptr;
        for (int64_t t = 0; t < d; t += 16) {
            const int count = static_cast<int>(std::min<int64_t>(16, d - t));
            const __mmask16 lanes = avx512::first_lanes(count);
            const __m512 b = v1 ? _mm512_maskz_loadu_ps(lanes, v1 + t) : _mm512_setzero_ps();
            _mm512_store_si512(words, interleave_bf16(_mm512_maskz_loadu_ps(lanes, v0 + t), b));
            for (int i = 0; i < count; ++i) vp[(t + i) * vld + j / 2] = words[i];
        }
    }
}

// Queries [q0, q1), at most kQueryBlock of them, of one head.
// scratch: attention_avx512bf16_scratch floats.
void attend_block(const AttentionArgs& a, int64_t head, int64_t q0, int64_t q1, float* scratch) {
    const int64_t d = a.head_dim, stride = a.heads * d, nq = q1 - q0, panels = (nq + kLanes - 1) / kLanes;
    const int64_t pairs = dim_pairs(d), kld = odd_lines((d + 15) / 16 * 8), vld = odd_lines(kKeyBlock / 2);
    const __m512 scale = _mm512_set1_ps(a.scale);
    uint32_t* const qt = reinterpret_cast<uint32_t*>(scratch);  // [panels][pairs][16]
    float* const ot = scratch + kQueryBlock / kLanes * pairs * kLanes;  // [panels][d][16]
    float* const p = ot + kQueryBlock / kLanes * d * kLanes;                // [kPanels][kKeyBlock][16]
    uint32_t* const pp = reinterpret_cast<uint32_t*>(p + kPanels * kKeyBlock * kLanes);  // [kPanels][kKeyBlock / 2][16]
    float* const m = reinterpret_cast<float*>(pp + kPanels * kKeyBlock / 2 * kLanes);    // [panels][16]
    float* const l = m + kQueryBlock;                                          // [panels][16]
    uint32_t* const kp = reinterpret_cast<uint32_t*>(l + kQueryBlock);         // [kKeyBlock][kld]
    uint32_t* const vp = kp + kKeyBlock * kld;                                 // [d][vld]

    std::fill(qt, qt + panels * pairs * kLanes, 0u);  // Q^T lanes past q1, and a padded head dim
    std::fill(ot, ot + panels * d * kLanes, 0.0f);
    for (int64_t i = 0; i < nq; ++i) {
        const float* qi = a.q + (q0 + i) * stride + head * d;
        uint32_t* col = qt + (i / kLanes) * pairs * kLanes + i % kLanes;
        for (int64_t t = 0; t < d; ++t) {
            const uint32_t half = float_to_bf16(qi[t]);
            col[t / 2 * kLanes] |= t % 2 ? half << 16 : half;
        }
    }
    std::fill(m, m + panels * kLanes, -std::numeric_limits<float>::infinity());
    std::fill(l, l + panels * kLanes, 0.0f);

    for (int64_t k0 = 0; k0 < a.keys; k0 += kKeyBlock) {
        const int64_t nk = std::min(kKeyBlock, a.keys - k0);
        pack_block(a, head, k0, nk, kld, vld, kp, vp);
        avx2::in_row_tiles<kPanels>(0, panels, [&](auto np, int64_t pn) {
            constexpr int NP = decltype(np)::value;
            prefetch_next_block(a, head, k0, kKeyBlock, pn, NP, panels);  // this panel group's share (packing had waited on each line)
            __m512 block_max[NP], correction[NP];
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i) block_max[i] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
            avx2::in_row_tiles<kMaxRows>(0, nk, [&](auto mr, int64_t j) {
                scores<decltype(mr)::value, NP>(kp + j * kld, kld, qt + pn * pairs * kLanes, pairs * kLanes, pairs, scale,
                                                p + j * kLanes, block_max);
            });
            SVDQ_UNROLL
            for (int i = 0; i < NP; ++i)
                correction[i] = softmax_block(p + i * kKeyBlock * kLanes, nk, block_max[i], m + (pn + i) * kLanes,
                                              l + (pn + i) * kLanes, pp + i * kKeyBlock / 2 * kLanes);
            avx2::in_row_tiles<kMaxRows>(0, d, [&](auto mr, int64_t t) {
                accumulate_pv<decltype(mr)::value, NP>(vp + t * vld, vld, pp, (nk + 1) / 2, correction,
                                                       ot + pn * d * kLanes + t * kLanes, d * kLanes);
            });
        });
    }

    store_output(a, head, q0, nq, ot, l);
}

}  // namespace

// A full query block's Q^T (BF16 pairs) and O^T, a panel group's scores
// and BF16 P^T, running max and sum, the packed K and V^T blocks.
size_t attention_avx512bf16_scratch(const AttentionArgs& a) {
    const int64_t d = a.head_dim, panels = kQueryBlock / kLanes;
    return static_cast<size_t>(panels * dim_pairs(d) * kLanes + panels * d * kLanes + kPanels * (kKeyBlock * kLanes + kKeyBlock / 2 * kLanes) +
                               2 * kQueryBlock + kKeyBlock * odd_lines((d + 15) / 16 * 8) + d * odd_lines(kKeyBlock / 2));
}

void attention_avx512bf16(const AttentionArgs& a, const AttentionTile& t, float* scratch) {
    for (int64_t q0 = t.q0; q0 < t.q1; q0 += kQueryBlock)
        attend_block(a, t.head, q0, std::min(t.q1, q0 + kQueryBlock), scratch);
}

}  // namespace svdq
SVDQ_AVX512BF16_END
