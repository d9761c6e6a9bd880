// What the attention kernels (attention_scalar.cpp, attention_avx2.cpp,
// attention_avx512.cpp, attention_avx512bf16.cpp) share outside their
// register tiles: the packed blocks' row stride, the K and V rows copied and
// prefetched, Q^T panels, the text encoders' bias and masks, and the
// output's transposition. Baseline x86-64 code (included before any
// kernel's target region), giving the same bits at every level.
#pragma once

#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_kernels.h"

namespace svdq::attention_blocks {

constexpr int64_t kLanes = 16;  // queries per panel

// Row stride, in 4-byte elements, of a packed block holding `count` of them
// per row: an odd number of 64-byte lines. In place FLUX's rows lie 12 KiB
// apart, so a walk down a column (the micro-kernels' broadcasts) would hit
// one L1 set; an odd line stride spreads consecutive rows over all sets.
inline int64_t odd_lines(int64_t count) { return ((count + 15) / 16 | 1) * 16; }

// Asks for the K and V rows of one head's next key block, the one after
// [k0, k0 + block), toward L2 while this block computes: 12 KiB apart in
// FLUX, they are beyond the hardware prefetchers. Panels [pn, pn + np) of
// the query block's `panels` ask for their share of the rows, so a kernel
// calling this per panel group spreads the misses over the block (0,
// panels, panels: all of them at once). Always inlined: GCC takes a
// function holding only prefetches for a pure one and drops calls to it
// that it has not inlined.
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline void prefetch_next_block(const AttentionArgs& a, int64_t head, int64_t k0, int64_t block, int64_t pn, int64_t np,
                                int64_t panels) {
    const int64_t d = a.head_dim, stride = a.heads * d;
    const int64_t next = k0 + block, count = std::max<int64_t>(0, std::min(block, a.keys - next));
    for (int64_t j = next + count * pn / panels; j < next + count * (pn + np) / panels; ++j)
        for (int64_t t = 0; t < d; t += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(a.k + j * stride + head * d + t), _MM_HINT_T1);
            _mm_prefetch(reinterpret_cast<const char*>(a.v + j * stride + head * d + t), _MM_HINT_T1);
        }
}

// Keys [0, n) that any of queries [.., q1) sees: causal queries see none
// past their own index.
inline int64_t keys_seen(const AttentionArgs& a, int64_t q1) { return a.causal ? std::min(a.keys, q1) : a.keys; }

// What biased attention adds to the scaled score of `key` for a query whose
// bias row is `row` (nullptr: none): the bias, then the key's (a padding
// mask joins the bias first, as transformers adds them).
inline float added_bias(const AttentionArgs& a, const float* row, int64_t key) {
    return (row != nullptr ? row[key] : 0.0f) + (a.key_bias != nullptr ? a.key_bias[key] : 0.0f);
}

// Query i's bias row of `head`, or nullptr.
inline const float* bias_row(const AttentionArgs& a, int64_t head, int64_t i) {
    return a.bias != nullptr ? a.bias + (head * a.queries + i) * a.bias_stride : nullptr;
}

// One panel's scores p [nk][16] of keys [k0, k0 + nk), lane i holding query
// q + i: adds the bias (added_bias's operations) to the `lanes` real queries
// (padding lanes get the key bias alone), masks the keys a causal query does
// not see with -inf, and writes each lane's max of the result to block_max
// [16]. The bias rows are read four keys at a time and transposed four
// lanes by four keys onto p's layout.
inline void add_bias(const AttentionArgs& a, int64_t head, int64_t q, int64_t lanes, int64_t k0, int64_t nk, float* p,
                     float* block_max) {
    const float* rows[kLanes];
    for (int64_t i = 0; i < kLanes; ++i) rows[i] = i < lanes ? bias_row(a, head, q + i) : nullptr;
    int64_t j = 0;
    for (; j + 4 <= nk; j += 4) {
        const __m128 key = a.key_bias != nullptr ? _mm_loadu_ps(a.key_bias + k0 + j) : _mm_setzero_ps();
        for (int64_t g = 0; g < kLanes; g += 4) {
            __m128 b[4];  // lanes g..g+3, then (transposed) keys j..j+3
            for (int r = 0; r < 4; ++r)
                b[r] = _mm_add_ps(rows[g + r] != nullptr ? _mm_loadu_ps(rows[g + r] + k0 + j) : _mm_setzero_ps(), key);
            _MM_TRANSPOSE4_PS(b[0], b[1], b[2], b[3]);
            for (int c = 0; c < 4; ++c) {
                float* pj = p + (j + c) * kLanes + g;
                _mm_storeu_ps(pj, _mm_add_ps(_mm_loadu_ps(pj), b[c]));
            }
        }
    }
    for (; j < nk; ++j)
        for (int64_t i = 0; i < kLanes; ++i) p[j * kLanes + i] += added_bias(a, rows[i], k0 + j);
    if (a.causal)
        for (int64_t i = 0; i < lanes; ++i)
            for (int64_t key = std::max(k0, q + i + 1); key < k0 + nk; ++key) p[(key - k0) * kLanes + i] = -std::numeric_limits<float>::infinity();
    for (int64_t g = 0; g < kLanes; g += 4) {
        __m128 m = _mm_set1_ps(-std::numeric_limits<float>::infinity());
        for (int64_t key = 0; key < nk; ++key) m = _mm_max_ps(m, _mm_loadu_ps(p + key * kLanes + g));
        _mm_storeu_ps(block_max + g, m);
    }
}

// K's and V's rows of keys [k0, k0 + nk) of one head copied to [nk][ld].
inline void copy_key_rows(const AttentionArgs& a, int64_t head, int64_t k0, int64_t nk, int64_t ld, float* kp, float* vp) {
    const int64_t d = a.head_dim, stride = a.heads * d;
    for (int64_t j = 0; j < nk; ++j) {
        const float* krow = a.k + (k0 + j) * stride + head * d;
        const float* vrow = a.v + (k0 + j) * stride + head * d;
        std::copy(krow, krow + d, kp + j * ld);
        std::copy(vrow, vrow + d, vp + j * ld);
    }
}

// Q^T panels [panels][d][16] of queries [q0, q0 + nq) of one head, times
// `scale`; lanes past nq keep what qt held (the kernels zero it first).
inline void transpose_queries(const AttentionArgs& a, int64_t head, int64_t q0, int64_t nq, float scale, float* qt) {
    const int64_t d = a.head_dim, stride = a.heads * d;
    for (int64_t i = 0; i < nq; ++i) {
        const float* qi = a.q + (q0 + i) * stride + head * d;
        float* col = qt + (i / kLanes) * d * kLanes + i % kLanes;
        for (int64_t t = 0; t < d; ++t) col[t * kLanes] = qi[t] * scale;
    }
}

// out = O^T / l for queries [q0, q0 + nq) of one head, from O^T panels
// [panels][d][16] and sums [panels][16], back to [token][head_dim]. Per
// lane, 1 / l and the product are each rounded once, as in any register
// width.
inline void store_output(const AttentionArgs& a, int64_t head, int64_t q0, int64_t nq, const float* ot, const float* l) {
    const int64_t d = a.head_dim, stride = a.heads * d;
    for (int64_t i = 0; i < nq; ++i) {
        const float inv = 1.0f / l[i];
        const float* col = ot + (i / kLanes) * d * kLanes + i % kLanes;
        float* row = a.out + (q0 + i) * stride + head * d;
        for (int64_t t = 0; t < d; ++t) row[t] = col[t * kLanes] * inv;
    }
}

}  // namespace svdq::attention_blocks
