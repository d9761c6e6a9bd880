// Samplers for flow-matching models: each integrates the probability-flow ODE
// dx/dsigma = v(x, sigma) from sigmas.front() down to sigmas.back() (usually
// 0), asking the caller for velocities. The caller runs the model (with
// guidance, true CFG, caches) inside the velocity callback; samplers only do
// host float32 math on the latents, single-threaded, so a run's result
// depends on the seed and the velocities alone, not on thread counts.
//
//   euler    x += (sigma_next - sigma) * v(x, sigma)
//            (diffusers' FlowMatchEulerDiscreteScheduler.step)
//   heun     k-diffusion's sample_heun, diffusers' FlowMatchHeunDiscreteScheduler:
//            d1 = v(x, sigma), x' = x + dt * d1, d2 = v(x', sigma_next),
//            x += dt * (d1 + d2) / 2; the step to sigma_next = 0 is Euler.
//            2N - 1 evaluations for N steps ending at 0.
//   dpmpp2m  DPM-Solver++(2M), diffusers' DPMSolverMultistepScheduler with
//            use_flow_sigmas (flow_prediction, midpoint), see dpmpp2m_sampler.cpp
//   euler_a  ComfyUI's sample_euler_ancestral_RF (eta, s_noise), see
//            euler_ancestral_sampler.cpp; noise from GaussianNoise(seed,
//            kAncestralStreamBase + step)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/function_ref.h"

namespace svdq {

// Writes v(x, sigma) into v (sized as x). The transformer's timestep input
// is sigma itself (see flow_schedule.h).
using VelocityFn = std::function<void(const std::vector<float>& x, float sigma, std::vector<float>& v)>;

struct SamplerStep {
    int index = 0;  // 0-based index of the step just done
    int total = 0;  // steps in the run: sigmas.size() - 1
    float sigma = 0.0f, sigma_next = 0.0f;  // the step went from sigma to sigma_next
};

// Called after every step with the latents now at step.sigma_next; it may
// change them in place (the inpainting blend does). Returning false cancels:
// run() throws svdq::Error SVDQ_ERROR_CANCELLED, leaving x as it was after
// that step. An empty hook is never called.
using StepHook = std::function<bool(const SamplerStep& step, std::vector<float>& x)>;

struct SamplerOptions {
    uint64_t seed = 0;     // euler_a's noise
    float eta = 1.0f;      // euler_a: share of ancestral noise, 0 = Euler exactly
    float s_noise = 1.0f;  // euler_a: scale of the added noise
};

class Sampler {
public:
    virtual ~Sampler() = default;

    virtual const char* name() const = 0;

    // Model evaluations a run over `sigmas` makes (progress totals).
    virtual int64_t evaluations(const std::vector<float>& sigmas) const;

    // Integrates x in place over `sigmas`: at least 2 finite values in
    // [0, 1], strictly decreasing (SVDQ_ERROR_INVALID_ARGUMENT otherwise,
    // also for an empty x). Exceptions of the callbacks pass through.
    virtual void run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
                     const StepHook& on_step = {}) const = 0;

protected:
    // The loop every sampler shares: checks the arguments, calls step(i) for
    // each step from sigmas[i] to sigmas[i + 1] and then the hook.
    static void run_steps(std::vector<float>& x, const std::vector<float>& sigmas, const StepHook& on_step,
                          FunctionRef<void(size_t i)> step);
};

// "euler", "heun", "dpmpp2m" or "euler_a"; another name is
// SVDQ_ERROR_INVALID_ARGUMENT naming it and listing these.
std::unique_ptr<Sampler> make_sampler(std::string_view name, const SamplerOptions& options = {});

// The names make_sampler takes, comma-separated, for messages and help texts.
const char* sampler_names();

}  // namespace svdq
