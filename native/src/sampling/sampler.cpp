#include "sampling/sampler.h"

#include <cmath>

#include "core/error.h"
#include "sampling/samplers.h"

namespace svdq {

int64_t Sampler::evaluations(const std::vector<float>& sigmas) const {
    return sigmas.empty() ? 0 : static_cast<int64_t>(sigmas.size()) - 1;
}

void Sampler::run_steps(std::vector<float>& x, const std::vector<float>& sigmas, const StepHook& on_step,
                        FunctionRef<void(size_t i)> step) {
    require(!x.empty(), SVDQ_ERROR_INVALID_ARGUMENT, "the latents to sample are empty");
    require(sigmas.size() >= 2, SVDQ_ERROR_INVALID_ARGUMENT,
            "a sampler needs at least 2 sigmas (got " + std::to_string(sigmas.size()) + ")");
    // Messages are built only on failure (sigmas[i - 1] does not exist at i = 0).
    for (size_t i = 0; i < sigmas.size(); ++i) {
        if (!(std::isfinite(sigmas[i]) && sigmas[i] >= 0.0f && sigmas[i] <= 1.0f))
            fail(SVDQ_ERROR_INVALID_ARGUMENT,
                 "sigma " + std::to_string(i) + " is " + value_text(sigmas[i]) + ": sigmas must be in [0, 1]");
        if (i > 0 && !(sigmas[i] < sigmas[i - 1]))
            fail(SVDQ_ERROR_INVALID_ARGUMENT, "sigmas must be strictly decreasing: sigma " + std::to_string(i) + " (" +
                                                  value_text(sigmas[i]) + ") is not below sigma " +
                                                  std::to_string(i - 1) + " (" + value_text(sigmas[i - 1]) + ")");
    }
    const int total = static_cast<int>(sigmas.size()) - 1;
    for (int i = 0; i < total; ++i) {
        const auto index = static_cast<size_t>(i);
        step(index);
        if (on_step && !on_step(SamplerStep{i, total, sigmas[index], sigmas[index + 1]}, x))
            fail(SVDQ_ERROR_CANCELLED, "sampling cancelled by the step callback after step " + std::to_string(i + 1) +
                                           " of " + std::to_string(total));
    }
}

const char* sampler_names() { return "euler, heun, dpmpp2m, euler_a"; }

std::unique_ptr<Sampler> make_sampler(std::string_view name, const SamplerOptions& options) {
    if (name == "euler") return std::make_unique<EulerSampler>();
    if (name == "heun") return std::make_unique<HeunSampler>();
    if (name == "dpmpp2m") return std::make_unique<DpmPp2mSampler>();
    if (name == "euler_a") return std::make_unique<EulerAncestralSampler>(options);
    fail(SVDQ_ERROR_INVALID_ARGUMENT,
         "unknown sampler '" + std::string(name) + "' (samplers: " + sampler_names() + ")");
}

}  // namespace svdq
