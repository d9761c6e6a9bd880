// The sampler strategies behind make_sampler (sampler.h), one file each.
#pragma once

#include "sampling/sampler.h"

namespace svdq {

class EulerSampler final : public Sampler {
public:
    const char* name() const override { return "euler"; }
    void run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
             const StepHook& on_step) const override;
};

class HeunSampler final : public Sampler {
public:
    const char* name() const override { return "heun"; }
    int64_t evaluations(const std::vector<float>& sigmas) const override;
    void run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
             const StepHook& on_step) const override;
};

class DpmPp2mSampler final : public Sampler {
public:
    const char* name() const override { return "dpmpp2m"; }
    void run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
             const StepHook& on_step) const override;
};

class EulerAncestralSampler final : public Sampler {
public:
    // SVDQ_ERROR_INVALID_ARGUMENT for eta outside [0, 1] or s_noise < 0 or not finite.
    explicit EulerAncestralSampler(const SamplerOptions& options);
    const char* name() const override { return "euler_a"; }
    void run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
             const StepHook& on_step) const override;

private:
    SamplerOptions options_;
};

}  // namespace svdq
