// DPM-Solver++(2M) for flow models, as diffusers' DPMSolverMultistepScheduler
// runs it with use_flow_sigmas, prediction_type flow_prediction, solver_order
// 2, midpoint solver, final_sigmas_type zero:
//
//   alpha = 1 - sigma, lambda = ln(alpha / sigma)  (-inf at sigma 1, +inf at 0)
//   D_i   = x - sigma_i * v(x, sigma_i)            (data prediction x0)
//   h     = lambda_{i+1} - lambda_i,  h_0 = lambda_i - lambda_{i-1}
//   x     = (sigma_{i+1} / sigma_i) x - alpha_{i+1} (e^-h - 1) (D_i + (h / h_0) (D_i - D_{i-1}) / 2)
//
// with the correction term dropped (first order, which for flow models is
// exactly an Euler step) at the first step and at the step to sigma 0, where
// the update is x = D_i. alpha_{i+1} (e^-h - 1) is computed as
// alpha_i sigma_{i+1} / sigma_i - alpha_{i+1} (the same without exp/log), and
// h / h_0 is 0 when sigma_{i-1} = 1 (h_0 infinite): the second step of a run
// from sigma 1 is first order too, the limit of the formula. Coefficients are
// float64, the update float32.
#include <cmath>

#include "sampling/samplers.h"

namespace svdq {

namespace {

double flow_lambda(double sigma) { return std::log(1.0 - sigma) - std::log(sigma); }

}  // namespace

void DpmPp2mSampler::run(std::vector<float>& x, const std::vector<float>& sigmas, const VelocityFn& velocity,
                         const StepHook& on_step) const {
    std::vector<float> v(x.size()), denoised(x.size()), previous(x.size());
    run_steps(x, sigmas, on_step, [&](size_t i) {
        const double s = sigmas[i], t = sigmas[i + 1];
        velocity(x, sigmas[i], v);
        for (size_t k = 0; k < x.size(); ++k) denoised[k] = x[k] - sigmas[i] * v[k];
        if (t == 0.0) {
            x = denoised;
        } else {
            // The midpoint correction's weight (h / h_0) / 2; 0 at the first step.
            double correction = 0.0;
            if (i > 0 && sigmas[i - 1] < 1.0f) {
                const double h = flow_lambda(t) - flow_lambda(s), h0 = flow_lambda(s) - flow_lambda(sigmas[i - 1]);
                correction = 0.5 * h / h0;
            }
            const auto keep = static_cast<float>(t / s);
            const auto towards = static_cast<float>((1.0 - t) - (1.0 - s) * t / s);
            const auto c = static_cast<float>(correction);
            for (size_t k = 0; k < x.size(); ++k) {
                const float d = correction == 0.0 ? denoised[k] : denoised[k] + c * (denoised[k] - previous[k]);
                x[k] = keep * x[k] + towards * d;
            }
        }
        previous.swap(denoised);
    });
}

}  // namespace svdq
