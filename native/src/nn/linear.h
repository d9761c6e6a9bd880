// A linear layer Y = X W^T + bias in one of the engine's schemes (float,
// W4A16, or W4A4 with optional smoothing and low-rank branch), prepared by
// the backend of the context that creates it and run through that backend's
// linear op.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/linear_weights.h"
#include "svdquant.h"

namespace svdq {

class Context;

class Linear {
public:
    Linear(Context& ctx, const LinearWeights& w);

    svdq_linear_scheme scheme() const { return scheme_; }
    svdq_activation activation() const { return activation_; }
    svdq_branch_execution branch_execution() const { return branch_execution_; }
    svdq_number_format format() const { return format_; }
    int64_t in_features() const { return k_; }
    int64_t out_features() const { return n_; }
    int64_t rank() const { return rank_; }
    bool has_bias() const { return has_bias_; }
    bool has_smooth() const { return has_smooth_; }
    uint64_t weight_bytes() const { return prepared_->memory_bytes(); }

    // x: [m, k], y: [m, n], views of the context's backend.
    void forward(Context& ctx, const TensorView& x, const TensorView& y) const;
    // The same on host arrays, copied through the backend when it cannot read them.
    void forward(Context& ctx, const float* x, int64_t m, float* y) const;

private:
    svdq_linear_scheme scheme_;
    svdq_activation activation_;
    svdq_branch_execution branch_execution_;
    svdq_number_format format_;
    int64_t n_, k_, rank_;
    bool has_bias_, has_smooth_;
    std::unique_ptr<PreparedLinear> prepared_;
};

// Receives the input rows [rows, in_features] of every linear a forward runs
// (copied to the host: the quantizer calibrates on them).
using LinearInputHook = std::function<void(const Linear& layer, const std::vector<float>& x, int64_t rows)>;

}  // namespace svdq

struct svdq_linear : svdq::Linear {
    using svdq::Linear::Linear;
};
