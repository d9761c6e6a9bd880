// First-block cache (as Nunchaku and ParaAttention do it), state across the
// steps of one generation: after the first double block, if its residual
// (output minus input image states) changed relatively less than the
// threshold since the last fully computed step, mean|r - r_prev| /
// mean|r_prev| < threshold, the remaining blocks are skipped and the image
// states become the first block's output plus the remainder (final image
// states minus first-block output) cached at that step. Threshold 0 never
// skips, so results are bit-identical to running without a cache.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/arena.h"
#include "core/tensor_view.h"

namespace svdq {

class Context;

class FluxBlockCache {
public:
    explicit FluxBlockCache(float threshold);

    // After the first block (`before` -> `after`, the image states): true when
    // the rest may be skipped. Otherwise remembers this residual.
    bool can_skip(Context& ctx, const TensorView& before, const TensorView& after);
    // image = first_out + the cached remainder.
    void reuse(Context& ctx, const TensorView& first_out, const TensorView& image);
    // Caches image - first_out from a fully computed step.
    void remember(Context& ctx, const TensorView& first_out, const TensorView& image);

    float threshold() const { return threshold_; }
    int64_t skipped_steps() const { return skipped_; }
    // Forgets every step (a new generation, or another shape).
    void reset();

private:
    float threshold_;
    std::vector<float> residual_, before_, after_;  // host copies, reused step to step
    std::unique_ptr<Buffer> remainder_;
    bool pending_ = false;  // a residual was stored this step, its remainder not yet
    int64_t skipped_ = 0;
};

}  // namespace svdq
