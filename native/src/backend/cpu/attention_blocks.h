// What the SIMD attention kernels (attention_avx2.cpp, attention_avx512.cpp,
// attention_avx512bf16.cpp) share outside their register tiles: the packed
// blocks' row stride, the K and V rows copied and prefetched, Q^T panels and
// the output's transposition. Baseline x86-64 code (included before any
// kernel's target region), giving the same bits at every level.
#pragma once

#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>

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
    const int64_t next = k0 + block, count = std::max<int64_t>(0, std::min(block, a.tokens - next));
    for (int64_t j = next + count * pn / panels; j < next + count * (pn + np) / panels; ++j)
        for (int64_t t = 0; t < d; t += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(a.k + j * stride + head * d + t), _MM_HINT_T1);
            _mm_prefetch(reinterpret_cast<const char*>(a.v + j * stride + head * d + t), _MM_HINT_T1);
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
