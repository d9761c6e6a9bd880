#include "nn/attention.h"

#include <algorithm>
#include <string>

#include "core/context.h"
#include "core/error.h"

namespace svdq {

void attention(Context& ctx, const float* q, const float* k, const float* v, int64_t tokens, int64_t heads,
               int64_t head_dim, float* out) {
    require(tokens >= 0 && heads >= 1 && head_dim >= 1, SVDQ_ERROR_INVALID_ARGUMENT,
            "attention: tokens " + std::to_string(tokens) + ", heads " + std::to_string(heads) + ", head_dim " +
                std::to_string(head_dim) + " (need tokens >= 0, heads and head_dim >= 1)");
    const CpuKernels& kernels = ctx.kernels();
    const AttentionArgs args{q, k, v, tokens, heads, head_dim, out};
    const int64_t block = kernels.attention_queries;
    const int64_t blocks = (tokens + block - 1) / block;
    // Consecutive items share a head, so its K and V stay warm in cache.
    ctx.pool().parallel_for(heads * blocks, [&](int64_t item) {
        const int64_t head = item / blocks, q0 = item % blocks * block;
        kernels.attention(args, {head, q0, std::min(tokens, q0 + block)});
    });
}

}  // namespace svdq
