// The attention reference: one query at a time against key blocks of 256
// with an online softmax (running max m, running sum l, unnormalised output),
// so no row of scores longer than a key block is held. A causal query stops
// at its own key; the running max starts at float's lowest, so keys masked
// with -inf weigh exactly 0 even in a block holding nothing else.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/attention_blocks.h"
#include "backend/cpu/cpu_kernels.h"

namespace svdq {

namespace {

constexpr int64_t kKeyBlock = 256;

}  // namespace

// The key block's scores, then one query's accumulator.
size_t attention_scalar_scratch(const AttentionArgs& a) { return static_cast<size_t>(kKeyBlock + a.head_dim); }

void attention_scalar(const AttentionArgs& a, const AttentionTile& t, float* scratch) {
    const int64_t d = a.head_dim, stride = a.heads * d;
    float* const s = scratch;
    float* const acc = scratch + kKeyBlock;
    for (int64_t i = t.q0; i < t.q1; ++i) {
        const float* qi = a.q + i * stride + t.head * d;
        const float* bias = attention_blocks::bias_row(a, t.head, i);
        const int64_t seen = attention_blocks::keys_seen(a, i + 1);
        float m = std::numeric_limits<float>::lowest(), l = 0.0f;
        std::fill(acc, acc + d, 0.0f);
        for (int64_t k0 = 0; k0 < seen; k0 += kKeyBlock) {
            const int64_t nk = std::min(kKeyBlock, seen - k0);
            float block_max = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < nk; ++j) {
                const float* kj = a.k + (k0 + j) * stride + t.head * d;
                float dot = 0.0f;
                for (int64_t c = 0; c < d; ++c) dot += qi[c] * kj[c];
                s[j] = dot * a.scale;
                if (a.biased()) s[j] += attention_blocks::added_bias(a, bias, k0 + j);
                block_max = std::max(block_max, s[j]);
            }
            const float new_max = std::max(m, block_max);
            const float correction = std::exp(m - new_max);
            for (int64_t c = 0; c < d; ++c) acc[c] *= correction;
            float sum = 0.0f;
            for (int64_t j = 0; j < nk; ++j) {
                const float p = std::exp(s[j] - new_max);
                sum += p;
                const float* vj = a.v + (k0 + j) * stride + t.head * d;
                for (int64_t c = 0; c < d; ++c) acc[c] += p * vj[c];
            }
            l = l * correction + sum;
            m = new_max;
        }
        float* o = a.out + i * stride + t.head * d;
        const float inv = 1.0f / l;
        for (int64_t c = 0; c < d; ++c) o[c] = acc[c] * inv;
    }
}

}  // namespace svdq
