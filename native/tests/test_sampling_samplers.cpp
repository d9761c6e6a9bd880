// The flow samplers: their update formulas written here in float64 from the
// published sources (diffusers, k-diffusion, ComfyUI), their convergence
// order on an ODE with a closed-form solution, exactness on the straight
// flow, Euler-ancestral's noise, the step hook and cancellation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "expect_error.h"
#include "sampling/flow_schedule.h"
#include "sampling/noise.h"
#include "sampling/sampler.h"

namespace svdq {
namespace {

using test::expect_error;

const char* const kAllSamplers[] = {"euler", "heun", "dpmpp2m", "euler_a"};

std::vector<float> dev_sigmas(int steps) {
    ScheduleOptions options;
    options.steps = steps;
    return make_flow_schedule(default_scheduler_config(true), 4096, options).sigmas;
}

std::vector<uint32_t> bits_of(const std::vector<float>& values) {
    std::vector<uint32_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
    return bits;
}

// --- the update formulas, one run of a few steps ------------------------------

// A nonlinear, sigma-dependent field: v = sin(x) + sigma.
double field(double x, double sigma) { return std::sin(x) + sigma; }
const VelocityFn kField = [](const std::vector<float>& x, float sigma, std::vector<float>& v) {
    for (size_t k = 0; k < x.size(); ++k) v[k] = static_cast<float>(field(x[k], sigma));
};

const std::vector<float> kStart = {0.8f, -1.3f, 2.1f, 0.05f};
const std::vector<float> kSigmas = {0.9f, 0.6f, 0.35f, 0.15f, 0.0f};

std::vector<float> run_sampler(const char* name, const std::vector<float>& sigmas, const VelocityFn& velocity,
                               std::vector<float> x, const SamplerOptions& options = {}) {
    make_sampler(name, options)->run(x, sigmas, velocity);
    return x;
}

// Each sampler's steps as the sources write them, in float64; the engine runs
// float32 with float64 coefficients. Measured worst difference 9.9e-8 over
// all four (float32 rounding along 4 steps); bound 4e-7. The four results
// differ from each other by 0.009 to 0.49, so a wrong coefficient cannot pass.
TEST(Samplers, FollowTheirPublishedUpdates) {
    for (size_t k = 0; k < kStart.size(); ++k) {
        const std::vector<double> s(kSigmas.begin(), kSigmas.end());
        // Euler: x += (sigma_next - sigma) v.
        double euler = kStart[k];
        for (size_t i = 0; i + 1 < s.size(); ++i) euler += (s[i + 1] - s[i]) * field(euler, s[i]);
        // Heun (k-diffusion sample_heun): averaged slopes, Euler into sigma 0.
        double heun = kStart[k];
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const double dt = s[i + 1] - s[i], d1 = field(heun, s[i]);
            heun = s[i + 1] == 0.0 ? heun + dt * d1 : heun + dt * 0.5 * (d1 + field(heun + dt * d1, s[i + 1]));
        }
        // DPM-Solver++(2M), diffusers with use_flow_sigmas: lambda = log(alpha) - log(sigma),
        // x_t = (sigma_t / sigma_s) x - alpha_t (exp(-h) - 1) (D0 + D1 / 2), D1 = (m0 - m1) / r0, r0 = h_0 / h;
        // first order at the first and the last step.
        double dpm = kStart[k], previous = 0.0;
        const auto lambda = [](double sigma) { return std::log(1.0 - sigma) - std::log(sigma); };
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const double m0 = dpm - s[i] * field(dpm, s[i]);
            if (s[i + 1] == 0.0) {
                dpm = m0;
            } else {
                const double h = lambda(s[i + 1]) - lambda(s[i]);
                double d = m0;
                if (i > 0) d += 0.5 * (m0 - previous) / ((lambda(s[i]) - lambda(s[i - 1])) / h);
                dpm = (s[i + 1] / s[i]) * dpm - (1.0 - s[i + 1]) * (std::exp(-h) - 1.0) * d;
            }
            previous = m0;
        }
        // ComfyUI sample_euler_ancestral_RF, eta 0.5: noise of step i is stream 1 + i.
        const double eta = 0.5;
        double ancestral = kStart[k];
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const double denoised = ancestral - s[i] * field(ancestral, s[i]);
            if (s[i + 1] == 0.0) {
                ancestral = denoised;
                continue;
            }
            const double down = s[i + 1] * (1.0 + (s[i + 1] / s[i] - 1.0) * eta);
            const double alpha_next = 1.0 - s[i + 1], alpha_down = 1.0 - down;
            const double renoise = std::sqrt(s[i + 1] * s[i + 1] - down * down * alpha_next * alpha_next / (alpha_down * alpha_down));
            ancestral = (down / s[i]) * ancestral + (1.0 - down / s[i]) * denoised;
            std::vector<float> z(kStart.size());
            GaussianNoise(77, kAncestralStreamBase + static_cast<uint32_t>(i)).fill(0, z.data(), z.size());
            ancestral = (alpha_next / alpha_down) * ancestral + z[k] * renoise;
        }
        SamplerOptions options;
        options.seed = 77;
        options.eta = static_cast<float>(eta);
        EXPECT_NEAR(run_sampler("euler", kSigmas, kField, kStart)[k], euler, 4e-7) << k;
        EXPECT_NEAR(run_sampler("heun", kSigmas, kField, kStart)[k], heun, 4e-7) << k;
        EXPECT_NEAR(run_sampler("dpmpp2m", kSigmas, kField, kStart)[k], dpm, 4e-7) << k;
        EXPECT_NEAR(run_sampler("euler_a", kSigmas, kField, kStart, options)[k], ancestral, 4e-7) << k;
        // The four differ from each other by far more than the bound.
        EXPECT_GT(std::abs(heun - euler), 1e-3);
        EXPECT_GT(std::abs(dpm - heun), 1e-3);
        EXPECT_GT(std::abs(ancestral - euler), 1e-3);
    }
}

// --- exactness and order ---------------------------------------------------------

// The straight flow x(sigma) = (1 - sigma) x0 + sigma n has the constant
// velocity n - x0: every method (first order included) is exact on it, at
// every step. Measured worst 2.7e-7 (float32 rounding over 28 steps); bound 6e-7.
TEST(Samplers, ExactOnTheStraightFlow) {
    const std::vector<float> x0 = {0.5f, -1.25f, 2.0f, 0.0f, -0.3f}, n = {1.1f, 0.4f, -0.9f, -2.2f, 0.7f};
    const VelocityFn constant = [&](const std::vector<float>&, float, std::vector<float>& v) {
        for (size_t k = 0; k < v.size(); ++k) v[k] = n[k] - x0[k];
    };
    for (const char* name : kAllSamplers) {
        SamplerOptions options;
        options.eta = 0.0f;  // euler_a without noise
        std::vector<float> x = n;
        int steps_seen = 0;
        make_sampler(name, options)->run(x, dev_sigmas(28), constant, [&](const SamplerStep& step, std::vector<float>& now) {
            ++steps_seen;
            for (size_t k = 0; k < now.size(); ++k)
                EXPECT_NEAR(now[k], (1.0 - step.sigma_next) * x0[k] + double{step.sigma_next} * n[k], 6e-7)
                    << name << " step " << step.index << " element " << k;
            return true;
        });
        EXPECT_EQ(steps_seen, 28) << name;
        for (size_t k = 0; k < x.size(); ++k) EXPECT_NEAR(x[k], x0[k], 6e-7) << name << " element " << k;
    }
}

// dx/dsigma = a x + sigma from x(0.9) = x1 to sigma 0.1 on uniform grids of 16,
// 32 and 64 steps; exactly x(sigma) = C e^(a sigma) - sigma/a - 1/a^2 with
// C = (x1 + 0.9/a + 1/a^2) e^(-0.9 a). The worst error over three (a, x1)
// pairs: halving the step halves Euler's error and quarters Heun's and
// DPM-Solver++(2M)'s. (The interval avoids sigma 1 and 0, where lambda is
// infinite: there DPM-Solver++(2M) on a grid uniform in sigma reaches its
// order only slowly, ratios 3.3-3.6 at 320-5120 steps.)
// Measured ratios e16/e32, e32/e64: euler 2.03, 2.01; heun 4.12, 4.06;
// dpmpp2m 4.57, 4.37 (its h^3 term still shows: 4.21, 4.11 at 128 and 256
// steps in float64). Bands: first order [1.85, 2.15], Heun [3.7, 4.4],
// DPM [3.7, 4.9]; a first-order slip (Heun's corrector or DPM's D1 dropped)
// gives ~2, outside them.
TEST(Samplers, ConvergeAtTheirOrder) {
    const double as[] = {1.5, -0.8, 0.5}, x1s[] = {1.0, 0.5, -2.0};
    const VelocityFn linear = [&](const std::vector<float>& x, float sigma, std::vector<float>& v) {
        for (size_t k = 0; k < x.size(); ++k) v[k] = static_cast<float>(as[k] * x[k] + sigma);
    };
    const auto error_after = [&](const char* name, int steps) {
        std::vector<float> sigmas;
        for (int i = 0; i <= steps; ++i) sigmas.push_back(static_cast<float>(0.9 - 0.8 * i / steps));
        std::vector<float> x(x1s, x1s + 3);
        make_sampler(name)->run(x, sigmas, linear);
        double worst = 0.0;
        for (size_t k = 0; k < 3; ++k) {
            const double a = as[k], c = (x1s[k] + 0.9 / a + 1.0 / (a * a)) * std::exp(-0.9 * a);
            worst = std::max(worst, std::abs(x[k] - (c * std::exp(0.1 * a) - 0.1 / a - 1.0 / (a * a))));
        }
        return worst;
    };
    const struct {
        const char* name;
        double lo, hi;
    } bands[] = {{"euler", 1.85, 2.15}, {"heun", 3.7, 4.4}, {"dpmpp2m", 3.7, 4.9}};
    for (const auto& band : bands) {
        const double e16 = error_after(band.name, 16), e32 = error_after(band.name, 32), e64 = error_after(band.name, 64);
        const std::string errors = std::to_string(e16) + " " + std::to_string(e32) + " " + std::to_string(e64);
        EXPECT_GT(e16 / e32, band.lo) << band.name << ": " << errors;
        EXPECT_LT(e16 / e32, band.hi) << band.name << ": " << errors;
        EXPECT_GT(e32 / e64, band.lo) << band.name << ": " << errors;
        EXPECT_LT(e32 / e64, band.hi) << band.name << ": " << errors;
        RecordProperty(std::string(band.name) + "_ratios", std::to_string(e16 / e32) + " " + std::to_string(e32 / e64));
    }
}

// --- Euler-ancestral ------------------------------------------------------------

TEST(EulerAncestral, WithoutNoiseIsEulerBitForBit) {
    SamplerOptions options;
    options.eta = 0.0f;
    options.seed = 5;
    EXPECT_EQ(bits_of(run_sampler("euler_a", dev_sigmas(12), kField, kStart, options)),
              bits_of(run_sampler("euler", dev_sigmas(12), kField, kStart)));
}

TEST(EulerAncestral, SameSeedSameResult) {
    SamplerOptions a, b;
    a.seed = 1;
    b.seed = 2;
    const std::vector<float> first = run_sampler("euler_a", dev_sigmas(8), kField, kStart, a);
    EXPECT_EQ(bits_of(first), bits_of(run_sampler("euler_a", dev_sigmas(8), kField, kStart, a)));
    const std::vector<float> other = run_sampler("euler_a", dev_sigmas(8), kField, kStart, b);
    for (size_t k = 0; k < first.size(); ++k) EXPECT_GT(std::abs(first[k] - other[k]), 1e-4) << k;
    // s_noise 0 keeps only the deterministic part: no seed dependence.
    a.s_noise = b.s_noise = 0.0f;
    EXPECT_EQ(bits_of(run_sampler("euler_a", dev_sigmas(8), kField, kStart, a)),
              bits_of(run_sampler("euler_a", dev_sigmas(8), kField, kStart, b)));
}

// With the exact velocity of a single data point x0, v = (x - x0) / sigma, the
// state after each step must again be (1 - sigma') x0 + sigma' z with z
// standard normal, and z must keep the share (1 - sigma') sigma_down /
// ((1 - sigma_down) sigma') of the previous z (the rest is fresh noise).
// 200000 elements: mean and variance have standard errors 2.2e-3 and 3.2e-3,
// the correlation 2.2e-3; bounds 0.012, 0.016, 0.012 (5 standard errors).
// Measured (seed 11, 8 dev steps, eta 1; expected correlations 0.49 to 0.69):
// worst |mean| 5.4e-3, |var - 1| 3.2e-3, |corr - expected| 1.3e-3.
TEST(EulerAncestral, KeepsTheMarginalOfAnExactModel) {
    const size_t count = 200000;
    const std::vector<float> noise = GaussianNoise(3, 0).generate(count);
    std::vector<float> x0(count);
    for (size_t k = 0; k < count; ++k) x0[k] = static_cast<float>(std::sin(0.01 * static_cast<double>(k)));
    const VelocityFn exact = [&](const std::vector<float>& x, float sigma, std::vector<float>& v) {
        for (size_t k = 0; k < x.size(); ++k) v[k] = (x[k] - x0[k]) / sigma;
    };
    SamplerOptions options;
    options.seed = 11;
    std::vector<float> x = noise, previous_z = noise;
    const std::vector<float> sigmas = dev_sigmas(8);
    make_sampler("euler_a", options)->run(x, sigmas, exact, [&](const SamplerStep& step, std::vector<float>& now) {
        if (step.sigma_next == 0.0f) return true;
        const double s = step.sigma, t = step.sigma_next;
        const double down = t * t / s;  // eta 1
        const double expected_corr = (1.0 - t) * down / ((1.0 - down) * t);
        double sum = 0, sum2 = 0, cross = 0;
        std::vector<float> z(count);
        for (size_t k = 0; k < count; ++k) {
            z[k] = static_cast<float>((now[k] - (1.0 - t) * x0[k]) / t);
            sum += z[k];
            sum2 += double{z[k]} * z[k];
            cross += double{z[k]} * previous_z[k];
        }
        const double n = static_cast<double>(count);
        EXPECT_NEAR(sum / n, 0.0, 0.012) << "step " << step.index;
        EXPECT_NEAR(sum2 / n, 1.0, 0.016) << "step " << step.index;
        EXPECT_NEAR(cross / n, expected_corr, 0.012) << "step " << step.index;
        previous_z = z;
        return true;
    });
    for (size_t k = 0; k < count; k += 997) EXPECT_NEAR(x[k], x0[k], 1e-5) << k;  // the last step lands on x0
}

TEST(EulerAncestral, RejectsBadOptions) {
    SamplerOptions options;
    options.eta = 1.5f;
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "eta must be in [0, 1] (got 1.5)", [&] { make_sampler("euler_a", options); });
    options.eta = 1.0f;
    options.s_noise = -1.0f;
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "s_noise", [&] { make_sampler("euler_a", options); });
}

// --- the loop: hook, cancellation, evaluations, arguments ---------------------

TEST(Samplers, HookSeesEveryStepAndMayChangeTheLatents) {
    const std::vector<float> sigmas = {1.0f, 0.5f, 0.25f, 0.0f};
    std::vector<SamplerStep> seen;
    std::vector<float> inputs;  // x[0] the velocity saw at each evaluation
    const VelocityFn zero = [&](const std::vector<float>& x, float, std::vector<float>& v) {
        inputs.push_back(x[0]);
        std::fill(v.begin(), v.end(), 0.0f);
    };
    std::vector<float> x = {1.0f, 2.0f};
    make_sampler("euler")->run(x, sigmas, zero, [&](const SamplerStep& step, std::vector<float>& now) {
        seen.push_back(step);
        now[0] += 10.0f;  // e.g. the inpainting blend
        return true;
    });
    ASSERT_EQ(seen.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(seen[static_cast<size_t>(i)].index, i);
        EXPECT_EQ(seen[static_cast<size_t>(i)].total, 3);
        EXPECT_EQ(seen[static_cast<size_t>(i)].sigma, sigmas[static_cast<size_t>(i)]);
        EXPECT_EQ(seen[static_cast<size_t>(i)].sigma_next, sigmas[static_cast<size_t>(i) + 1]);
    }
    EXPECT_EQ(inputs, (std::vector<float>{1.0f, 11.0f, 21.0f}));
    EXPECT_EQ(x, (std::vector<float>{31.0f, 2.0f}));
}

// The hook returning false after step index 2 stops the run there: three
// steps' evaluations, the latents of those three steps, SVDQ_ERROR_CANCELLED.
TEST(Samplers, CancelFromTheHookStopsAtThatStep) {
    const std::vector<float> sigmas = dev_sigmas(10);
    for (const char* name : kAllSamplers) {
        const auto sampler = make_sampler(name);
        int evaluations = 0;
        const VelocityFn counted = [&](const std::vector<float>& x, float sigma, std::vector<float>& v) {
            ++evaluations;
            kField(x, sigma, v);
        };
        std::vector<float> x = kStart;
        int hooks = 0;
        try {
            sampler->run(x, sigmas, counted, [&](const SamplerStep& step, std::vector<float>&) {
                ++hooks;
                return step.index < 2;
            });
            ADD_FAILURE() << name << ": not cancelled";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SVDQ_ERROR_CANCELLED) << name;
            EXPECT_NE(std::string(e.what()).find("after step 3 of 10"), std::string::npos) << e.what();
        }
        EXPECT_EQ(hooks, 3) << name;
        const std::vector<float> first_three(sigmas.begin(), sigmas.begin() + 4);
        EXPECT_EQ(evaluations, sampler->evaluations(first_three)) << name;
        EXPECT_EQ(bits_of(x), bits_of(run_sampler(name, first_three, kField, kStart))) << name;
    }
}

TEST(Samplers, CountTheirEvaluations) {
    for (const char* name : kAllSamplers) {
        for (const auto& sigmas : {dev_sigmas(7), std::vector<float>{0.9f, 0.5f, 0.2f}}) {
            int calls = 0;
            const VelocityFn counted = [&](const std::vector<float>& x, float sigma, std::vector<float>& v) {
                ++calls;
                kField(x, sigma, v);
            };
            std::vector<float> x = kStart;
            const auto sampler = make_sampler(name);
            sampler->run(x, sigmas, counted);
            EXPECT_EQ(calls, sampler->evaluations(sigmas)) << name;
        }
    }
    EXPECT_EQ(make_sampler("heun")->evaluations(dev_sigmas(7)), 13);  // 2N - 1: Euler into 0
    EXPECT_EQ(make_sampler("heun")->evaluations({0.9f, 0.5f, 0.2f}), 4);
    EXPECT_EQ(make_sampler("dpmpp2m")->evaluations(dev_sigmas(7)), 7);
}

TEST(Samplers, FactoryNamesTheValidSamplers) {
    for (const char* name : kAllSamplers) EXPECT_STREQ(make_sampler(name)->name(), name);
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "unknown sampler 'ddim' (samplers: euler, heun, dpmpp2m, euler_a)",
                 [] { make_sampler("ddim"); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "unknown sampler 'Euler'", [] { make_sampler("Euler"); });
}

TEST(Samplers, RejectBadSchedules) {
    std::vector<float> x = kStart;
    const auto sampler = make_sampler("euler");
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "at least 2 sigmas (got 1)", [&] { sampler->run(x, {1.0f}, kField); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "strictly decreasing", [&] { sampler->run(x, {0.5f, 0.7f, 0.0f}, kField); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "sigma 0 is 1.5", [&] { sampler->run(x, {1.5f, 0.0f}, kField); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "sigma 1 is NaN", [&] { sampler->run(x, {1.0f, NAN}, kField); });
    std::vector<float> empty;
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "empty", [&] { sampler->run(empty, {1.0f, 0.0f}, kField); });
    EXPECT_EQ(x, kStart);  // nothing ran
}

}  // namespace
}  // namespace svdq
