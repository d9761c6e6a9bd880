#include "sampling/samplers.h"

namespace svdq {

int64_t HeunSampler::evaluations(const std::vector<float>& sigmas) const {
    if (sigmas.size() < 2) return 0;
    const auto steps = static_cast<int64_t>(sigmas.size()) - 1;
    return 2 * steps - (sigmas.back() == 0.0f ? 1 : 0);
}

// The derivative of k-diffusion's sample_heun, (x - denoised) / sigma with
// denoised = x - sigma * v, is v itself: the velocities are used directly.
void HeunSampler::run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
                      const StepHook& on_step) const {
    std::vector<float> v1(x.size()), v2(x.size()), predicted(x.size());
    run_steps(x, sigmas, on_step, [&](size_t i) {
        const float sigma_next = sigmas[i + 1], dt = sigma_next - sigmas[i];
        velocity(x, sigmas[i], v1);
        if (sigma_next == 0.0f) {  // the last step to 0: Euler (v at sigma 0 is not asked for)
            for (size_t k = 0; k < x.size(); ++k) x[k] = x[k] + dt * v1[k];
            return;
        }
        for (size_t k = 0; k < x.size(); ++k) predicted[k] = x[k] + dt * v1[k];
        velocity(predicted, sigma_next, v2);
        for (size_t k = 0; k < x.size(); ++k) x[k] = x[k] + 0.5f * (v1[k] + v2[k]) * dt;
    });
}

}  // namespace svdq
