#include "sampling/samplers.h"

namespace svdq {

void EulerSampler::run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
                       const StepHook& on_step) const {
    std::vector<float> v(x.size());
    run_steps(x, sigmas, on_step, [&](size_t i) {
        velocity(x, sigmas[i], v);
        const float dt = sigmas[i + 1] - sigmas[i];
        for (size_t k = 0; k < x.size(); ++k) x[k] = x[k] + dt * v[k];
    });
}

}  // namespace svdq
