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
#include "core/low_rank_update.h"
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
    // y = second(first(x)) through Backend::mlp; hidden receives first's output.
    static void forward_pair(Context& ctx, const Linear& first, const Linear& second, const TensorView& x, const TensorView& hidden,
                             const TensorView& y);
    // out.residual += gate * (the output + addend) through Backend::linear_gated
    // and mlp_gated (GatedResidual, backend/backend.h).
    void forward_gated(Context& ctx, const TensorView& x, const GatedResidual& out) const;
    // y = [q | k | v] with q and k RMS-normalised per head and rotated, through
    // Backend::linear_qk_norm_rope.
    void forward_qk_norm_rope(Context& ctx, const TensorView& x, const TensorView& y, const QkNormRope& n) const;
    static void forward_pair_gated(Context& ctx, const Linear& first, const Linear& second, const TensorView& x,
                                   const TensorView& hidden, const GatedResidual& out);

    // Replaces the layer's extra low-rank terms (LoRA) as a whole: y =
    // layer(x) + sum_i scale_i (x down_i^T) up_i^T, added before the
    // activation. A fused INT4 W4A4 branch takes them in (down and up
    // concatenated along the rank, BF16 like the branch); any other layer runs
    // them as an unfused fp32 branch. Updates with scale 0 are dropped, so an
    // empty set or all scales 0 give the layer's own outputs bit for bit.
    // Each update is checked (down [r, k], up [n, r], r >= 1, finite values
    // and scale); an error names the update and nothing changes. Not while a
    // forward of this layer runs.
    void set_low_rank_updates(Context& ctx, std::vector<LowRankUpdate> updates);
    // The rank the updates add (0 without any).
    int64_t low_rank_update_rank() const { return update_rank_; }

private:
    svdq_linear_scheme scheme_;
    svdq_activation activation_;
    svdq_branch_execution branch_execution_;
    svdq_number_format format_;
    int64_t n_, k_, rank_;
    bool has_bias_, has_smooth_;
    int64_t update_rank_ = 0;
    std::unique_ptr<PreparedLinear> prepared_;
};

// Receives the input rows [rows, in_features] of every linear a forward runs
// (copied to the host: the quantizer calibrates on them).
using LinearInputHook = std::function<void(const Linear& layer, const std::vector<float>& x, int64_t rows)>;

}  // namespace svdq

struct svdq_linear : svdq::Linear {
    using svdq::Linear::Linear;
};
