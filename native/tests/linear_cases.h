// Linear layers of every scheme and branch mode for tests that compare one
// backend or path with another (test_backend_cuda.cpp, test_backend_plugin.cpp,
// test_fused_epilogues.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "backend/context.h"
#include "core/linear_weights.h"
#include "core/low_rank_update.h"
#include "nn/linear.h"
#include "test_util.h"

namespace svdq::test {

struct LinearCase {
    const char* name;
    svdq_linear_scheme scheme;
    bool bf16_weights, smooth, branch, unfused, gelu, lora;
};

// One layer of each scheme and branch mode (LoRA on a float and a fused
// W4A4 layer: the two ways updates run).
inline const LinearCase kEveryLinearCase[] = {
    {"float", SVDQ_SCHEME_FLOAT, false, false, false, false, false, false},
    {"float_bf16", SVDQ_SCHEME_FLOAT, true, false, false, false, true, false},
    {"float_lora", SVDQ_SCHEME_FLOAT, false, false, false, false, true, true},
    {"w4a16", SVDQ_SCHEME_W4A16, false, false, false, false, true, false},
    {"w4a4", SVDQ_SCHEME_W4A4, false, false, false, false, false, false},
    {"w4a4_svdquant", SVDQ_SCHEME_W4A4, false, true, true, false, true, false},
    {"w4a4_svdquant_unfused", SVDQ_SCHEME_W4A4, false, true, true, true, false, false},
    {"w4a4_svdquant_lora", SVDQ_SCHEME_W4A4, false, true, true, false, true, true},
};

// gtest names a parameter by this instead of its bytes.
inline void PrintTo(const LinearCase& c, std::ostream* os) { *os << c.name; }

// Smoothing factors: positive, spread; powers of two when exact_smooth (1 / (1 / s) is s again).
inline LinearWeights case_weights(const LinearCase& c, int64_t n, int64_t k, int64_t rank, bool exact_smooth) {
    LinearWeights w;
    w.scheme = c.scheme;
    w.format = c.scheme == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
    w.activation = c.gelu ? SVDQ_ACTIVATION_GELU_TANH : SVDQ_ACTIVATION_NONE;
    w.branch_execution = c.unfused ? SVDQ_BRANCH_UNFUSED : SVDQ_BRANCH_FUSED;
    w.n = n;
    w.k = k;
    w.weight = gaussian(static_cast<size_t>(n * k), 1, 0.05f);
    if (c.bf16_weights) w.weight = bf16_values(w.weight);
    w.bias = gaussian(static_cast<size_t>(n), 2);
    if (c.smooth) {
        w.smooth = gaussian(static_cast<size_t>(k), 3);
        for (int64_t j = 0; j < k; ++j)
            w.smooth[static_cast<size_t>(j)] = exact_smooth ? static_cast<float>(1 << (j % 4)) : 0.5f + std::fabs(w.smooth[static_cast<size_t>(j)]);
    }
    if (c.branch) {
        w.rank = rank;
        w.up = gaussian(static_cast<size_t>(n * rank), 4, 0.1f);
        w.down = gaussian(static_cast<size_t>(rank * k), 5, 0.1f);
    }
    return w;
}

// One LoRA-like update of rank 16 when the case has one.
inline std::vector<LowRankUpdate> case_updates(const LinearCase& c, int64_t n, int64_t k) {
    if (!c.lora) return {};
    return {{16, gaussian(static_cast<size_t>(16 * k), 6, 0.05f), gaussian(static_cast<size_t>(n * 16), 7, 0.05f), 0.75f}};
}

inline std::vector<float> run_linear(Context& ctx, const LinearWeights& w, const std::vector<float>& x, int64_t m,
                                     const std::vector<LowRankUpdate>& updates = {}) {
    Linear layer(ctx, w);
    if (!updates.empty()) layer.set_low_rank_updates(ctx, updates);
    std::vector<float> y(static_cast<size_t>(m * w.n));
    layer.forward(ctx, x.data(), m, y.data());
    return y;
}

}  // namespace svdq::test
