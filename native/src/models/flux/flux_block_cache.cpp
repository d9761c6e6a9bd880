#include "models/flux/flux_block_cache.h"

#include <cmath>
#include <string>

#include "backend/context.h"
#include "core/error.h"

namespace svdq {

FluxBlockCache::FluxBlockCache(float threshold) : threshold_(threshold) {
    require(std::isfinite(threshold) && threshold >= 0.0f, SVDQ_ERROR_INVALID_ARGUMENT,
            "the first-block cache threshold " + std::to_string(threshold) + " must be finite and >= 0");
}

void FluxBlockCache::reset() {
    residual_.clear();
    remainder_.reset();
    pending_ = false;
    skipped_ = 0;
}

bool FluxBlockCache::can_skip(Context& ctx, const TensorView& before, const TensorView& after) {
    const size_t n = static_cast<size_t>(after.numel());
    before_.resize(n);
    after_.resize(n);
    ctx.backend().download(before, before_.data());
    ctx.backend().download(after, after_.data());
    if (residual_.size() == n && remainder_) {
        double diff = 0.0, norm = 0.0;
        for (size_t i = 0; i < n; ++i) {
            const double r = static_cast<double>(after_[i]) - static_cast<double>(before_[i]);
            diff += std::fabs(r - static_cast<double>(residual_[i]));
            norm += std::fabs(static_cast<double>(residual_[i]));
        }
        const bool skip = threshold_ > 0.0f && diff < static_cast<double>(threshold_) * norm;
        // The measured changes are what a user picks a threshold from.
        if (ctx.logger().enabled(SVDQ_LOG_DEBUG))
            ctx.logger().debug("first-block cache: relative change " + std::to_string(diff / norm) + " (threshold " +
                               std::to_string(threshold_) + "): " + (skip ? "rest skipped" : "computed"));
        if (skip) {
            ++skipped_;
            return true;
        }
    }
    residual_.resize(n);
    for (size_t i = 0; i < n; ++i) residual_[i] = after_[i] - before_[i];
    pending_ = true;
    return false;
}

void FluxBlockCache::reuse(Context& ctx, const TensorView& first_out, const TensorView& image) {
    ctx.backend().copy(first_out, image);
    ctx.backend().add(image, remainder_->view());
}

void FluxBlockCache::remember(Context& ctx, const TensorView& first_out, const TensorView& image) {
    if (!pending_) return;
    pending_ = false;
    ctx.backend().download(first_out, before_.data());
    ctx.backend().download(image, after_.data());
    for (size_t i = 0; i < after_.size(); ++i) after_[i] -= before_[i];
    if (!remainder_ || remainder_->view().rows != image.rows || remainder_->view().cols != image.cols)
        remainder_ = std::make_unique<Buffer>(ctx.backend(), image.rows, image.cols);
    ctx.backend().upload(after_.data(), remainder_->view());
}

}  // namespace svdq
