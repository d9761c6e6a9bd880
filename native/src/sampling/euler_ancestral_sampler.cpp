// Euler-ancestral for flow models, as ComfyUI's sample_euler_ancestral_RF
// (k-diffusion sampling.py) does it, per step from sigma to sigma_next:
//
//   sigma_next = 0:  x = x - sigma * v                       (the denoised x0)
//   otherwise:       sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta)
//                    x = x + (sigma_down - sigma) * v         (Euler to sigma_down)
//                    x = (1 - sigma_next) / (1 - sigma_down) * x + s_noise * r * z
//                    r = sqrt(sigma_next^2 - sigma_down^2 (1 - sigma_next)^2 / (1 - sigma_down)^2)
//
// (ComfyUI writes the Euler part as (sigma_down / sigma) x + (1 - sigma_down /
// sigma) x0 with x0 = x - sigma v, the same value.) z is standard normal
// noise from GaussianNoise(seed, kAncestralStreamBase + step index), element
// k for latent k. The re-noising keeps the marginal of an exact model: x0 +
// noise at sigma_next, sigma_next being its noise share. With eta = 0 there is
// no noise and every step is bit for bit an Euler step. Unlike diffusers'
// stochastic FlowMatchEulerDiscreteScheduler (eta = 1 with sigma_down = 0,
// full re-noising), eta sets the amount.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "sampling/noise.h"
#include "sampling/samplers.h"

namespace svdq {

EulerAncestralSampler::EulerAncestralSampler(const SamplerOptions& options) : options_(options) {
    require(std::isfinite(options.eta) && options.eta >= 0.0f && options.eta <= 1.0f, SVDQ_ERROR_INVALID_ARGUMENT,
            "euler_a: eta must be in [0, 1] (got " + value_text(options.eta) + ")");
    require(std::isfinite(options.s_noise) && options.s_noise >= 0.0f, SVDQ_ERROR_INVALID_ARGUMENT,
            "euler_a: s_noise must be finite and at least 0 (got " + value_text(options.s_noise) + ")");
}

void EulerAncestralSampler::run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
                                const StepHook& on_step) const {
    std::vector<float> v(x.size()), z(x.size());
    run_steps(x, sigmas, on_step, [&](size_t i) {
        const float sigma = sigmas[i], sigma_next = sigmas[i + 1];
        velocity(x, sigma, v);
        if (sigma_next == 0.0f) {
            for (size_t k = 0; k < x.size(); ++k) x[k] = x[k] - sigma * v[k];
            return;
        }
        const double eta = options_.eta, s = sigma, t = sigma_next;
        const auto sigma_down = static_cast<float>(t * (1.0 + (t / s - 1.0) * eta));
        const float dt = sigma_down - sigma;
        for (size_t k = 0; k < x.size(); ++k) x[k] = x[k] + dt * v[k];
        if (options_.eta == 0.0f) return;
        const double alpha_next = 1.0 - t, alpha_down = 1.0 - sigma_down;
        const double ratio = alpha_next / alpha_down;
        const auto scale = static_cast<float>(ratio);
        const auto renoise = static_cast<float>(
            options_.s_noise * std::sqrt(std::max(0.0, t * t - double{sigma_down} * sigma_down * ratio * ratio)));
        GaussianNoise(options_.seed, kAncestralStreamBase + static_cast<uint32_t>(i)).fill(0, z.data(), z.size());
        for (size_t k = 0; k < x.size(); ++k) x[k] = scale * x[k] + renoise * z[k];
    });
}

}  // namespace svdq
