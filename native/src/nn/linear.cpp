#include "nn/linear.h"

#include <cmath>
#include <string>

#include "backend/context.h"
#include "core/error.h"

namespace svdq {

Linear::Linear(Context& ctx, const LinearWeights& w)
    : scheme_(w.scheme),
      activation_(w.activation),
      branch_execution_(w.branch_execution),
      format_(w.format),
      n_(w.n),
      k_(w.k),
      rank_(w.rank),
      has_bias_(!w.bias.empty()),
      has_smooth_(!w.smooth.empty()),
      prepared_(ctx.backend().prepare_linear(w)) {}

void Linear::forward(Context& ctx, const TensorView& x, const TensorView& y) const {
    ctx.backend().linear(*prepared_, x, y);
}

namespace {

void require_pair(const Linear& first, const Linear& second) {
    if (first.out_features() != second.in_features())  // the message only on failure: forwards allocate nothing
        fail(SVDQ_ERROR_SHAPE_MISMATCH, "a layer pair needs the first's outputs (" + std::to_string(first.out_features()) +
                                            ") to be the second's inputs (" + std::to_string(second.in_features()) + ")");
}

}  // namespace

void Linear::forward_pair(Context& ctx, const Linear& first, const Linear& second, const TensorView& x, const TensorView& hidden,
                          const TensorView& y) {
    require_pair(first, second);
    ctx.backend().mlp(*first.prepared_, *second.prepared_, x, hidden, y);
}

void Linear::forward_gated(Context& ctx, const TensorView& x, const GatedResidual& out) const {
    ctx.backend().linear_gated(*prepared_, x, out);
}

void Linear::forward_qk_norm_rope(Context& ctx, const TensorView& x, const TensorView& y, const QkNormRope& n) const {
    ctx.backend().linear_qk_norm_rope(*prepared_, x, y, n);
}

void Linear::forward_pair_gated(Context& ctx, const Linear& first, const Linear& second, const TensorView& x,
                                const TensorView& hidden, const GatedResidual& out) {
    require_pair(first, second);
    ctx.backend().mlp_gated(*first.prepared_, *second.prepared_, x, hidden, out);
}

void Linear::forward(Context& ctx, const float* x, int64_t m, float* y) const {
    Backend& backend = ctx.backend();
    const TensorView hx = TensorView::host(x, m, k_), hy = TensorView::host(y, m, n_);
    if (backend.reads_host_memory()) return backend.linear(*prepared_, hx, hy);
    const Arena::Scope scope(ctx.arena());
    const TensorView dy = ctx.arena().matrix(m, n_);
    backend.linear(*prepared_, ctx.arena().input(x, m, k_), dy);
    backend.download(dy, y);
}

namespace {

void require_finite(const std::vector<float>& values, const std::string& what) {
    for (size_t i = 0; i < values.size(); ++i)
        if (!std::isfinite(values[i]))
            fail(SVDQ_ERROR_NON_FINITE, what + " holds a non-finite value (" + value_text(values[i]) + ") at flat index " +
                                            std::to_string(i));
}

}  // namespace

void Linear::set_low_rank_updates(Context&, std::vector<LowRankUpdate> updates) {
    std::vector<LowRankUpdate> kept;
    int64_t rank = 0;
    for (size_t i = 0; i < updates.size(); ++i) {
        LowRankUpdate& u = updates[i];
        const std::string name = "low-rank update " + std::to_string(i);
        require(u.rank >= 1, SVDQ_ERROR_SHAPE_MISMATCH, name + " has rank " + std::to_string(u.rank) + ", not >= 1");
        require(u.down.size() == static_cast<size_t>(u.rank * k_), SVDQ_ERROR_SHAPE_MISMATCH,
                name + ": down holds " + std::to_string(u.down.size()) + " values, not [" + std::to_string(u.rank) + ", " +
                    std::to_string(k_) + "] (the layer's input features)");
        require(u.up.size() == static_cast<size_t>(n_ * u.rank), SVDQ_ERROR_SHAPE_MISMATCH,
                name + ": up holds " + std::to_string(u.up.size()) + " values, not [" + std::to_string(n_) + ", " +
                    std::to_string(u.rank) + "] (the layer's output features)");
        require(std::isfinite(u.scale), SVDQ_ERROR_NON_FINITE, name + " has a non-finite scale (" + value_text(u.scale) + ")");
        require_finite(u.down, name + ": down");
        require_finite(u.up, name + ": up");
        if (u.scale == 0.0f) continue;  // changes nothing: dropped, so all-zero scales are the layer itself
        rank += u.rank;
        kept.push_back(std::move(u));
    }
    prepared_->set_low_rank_updates(kept);
    update_rank_ = rank;
}

}  // namespace svdq
