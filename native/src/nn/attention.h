// Multi-head scaled dot-product attention. The context's kernel level
// computes one (head, query block) tile at a time with keys streamed through
// an online softmax, so no S x S score matrix is ever held; tiles run on the
// context's threads.
#pragma once

#include <cstdint>

namespace svdq {

class Context;

// q, k, v, out: [tokens, heads, head_dim] row-major; softmax(q k^T / sqrt(d)) v.
void attention(Context& ctx, const float* q, const float* k, const float* v, int64_t tokens, int64_t heads,
               int64_t head_dim, float* out);

}  // namespace svdq
