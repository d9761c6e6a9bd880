#include "nn/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"

namespace svdq {

namespace {

constexpr int64_t kQueryBlock = 32;
constexpr int64_t kKeyBlock = 256;

// One head, queries [q0, q1): running max m, running sum l and the
// unnormalised output per query, updated one key block at a time.
void attend_block(const float* q, const float* k, const float* v, int64_t tokens, int64_t heads, int64_t d, int64_t head,
                  int64_t q0, int64_t q1, float* out) {
    const int64_t stride = heads * d;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int64_t nq = q1 - q0;
    std::vector<float> m(static_cast<size_t>(nq), -std::numeric_limits<float>::infinity());
    std::vector<float> l(static_cast<size_t>(nq), 0.0f);
    std::vector<float> acc(static_cast<size_t>(nq * d), 0.0f);
    std::vector<float> s(static_cast<size_t>(kKeyBlock));
    for (int64_t k0 = 0; k0 < tokens; k0 += kKeyBlock) {
        const int64_t nk = std::min(kKeyBlock, tokens - k0);
        for (int64_t i = 0; i < nq; ++i) {
            const float* qi = q + (q0 + i) * stride + head * d;
            float block_max = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < nk; ++j) {
                const float* kj = k + (k0 + j) * stride + head * d;
                float dot = 0.0f;
                for (int64_t t = 0; t < d; ++t) dot += qi[t] * kj[t];
                s[static_cast<size_t>(j)] = dot * scale;
                block_max = std::max(block_max, s[static_cast<size_t>(j)]);
            }
            const float new_max = std::max(m[static_cast<size_t>(i)], block_max);
            const float correction = std::exp(m[static_cast<size_t>(i)] - new_max);
            float* ai = acc.data() + i * d;
            for (int64_t t = 0; t < d; ++t) ai[t] *= correction;
            float sum = 0.0f;
            for (int64_t j = 0; j < nk; ++j) {
                const float p = std::exp(s[static_cast<size_t>(j)] - new_max);
                sum += p;
                const float* vj = v + (k0 + j) * stride + head * d;
                for (int64_t t = 0; t < d; ++t) ai[t] += p * vj[t];
            }
            l[static_cast<size_t>(i)] = l[static_cast<size_t>(i)] * correction + sum;
            m[static_cast<size_t>(i)] = new_max;
        }
    }
    for (int64_t i = 0; i < nq; ++i) {
        float* o = out + (q0 + i) * stride + head * d;
        const float inv = 1.0f / l[static_cast<size_t>(i)];
        for (int64_t t = 0; t < d; ++t) o[t] = acc[static_cast<size_t>(i * d + t)] * inv;
    }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, int64_t tokens, int64_t heads, int64_t head_dim,
               float* out, ThreadPool& pool) {
    const int64_t blocks = (tokens + kQueryBlock - 1) / kQueryBlock;
    pool.parallel_for(heads * blocks, [&](int64_t item) {
        const int64_t head = item / blocks, b = item % blocks;
        attend_block(q, k, v, tokens, heads, head_dim, head, b * kQueryBlock, std::min(tokens, (b + 1) * kQueryBlock), out);
    });
}

}  // namespace svdq
