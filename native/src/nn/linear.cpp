#include "nn/linear.h"

#include "backend/context.h"

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

void Linear::forward(Context& ctx, const float* x, int64_t m, float* y) const {
    Backend& backend = ctx.backend();
    const TensorView hx = TensorView::host(x, m, k_), hy = TensorView::host(y, m, n_);
    if (backend.reads_host_memory()) return backend.linear(*prepared_, hx, hy);
    const Arena::Scope scope(ctx.arena());
    const TensorView dy = ctx.arena().matrix(m, n_);
    backend.linear(*prepared_, ctx.arena().input(x, m, k_), dy);
    backend.download(dy, y);
}

}  // namespace svdq
