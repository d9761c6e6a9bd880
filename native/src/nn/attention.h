// Multi-head scaled dot-product attention, tiled: queries in blocks, keys
// streamed with an online softmax, so memory stays O(block^2) instead of
// holding the S x S score matrix.
#pragma once

#include <cstdint>

namespace svdq {

class ThreadPool;

// q, k, v, out: [tokens, heads, head_dim] row-major; softmax(q k^T / sqrt(d)) v.
void attention(const float* q, const float* k, const float* v, int64_t tokens, int64_t heads, int64_t head_dim,
               float* out, ThreadPool& pool);

}  // namespace svdq
