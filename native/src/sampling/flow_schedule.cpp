#include "sampling/flow_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace svdq {

namespace {

constexpr int kMaxSteps = 10000;

// numpy's linspace(1, 1/N, N) in float64: 1 + i * step, the last value
// exactly the stop, then rounded to float32 as set_timesteps does.
std::vector<float> linspace_sigmas(int steps) {
    const double stop = 1.0 / steps;
    std::vector<float> sigmas(static_cast<size_t>(steps));
    if (steps == 1) {
        sigmas[0] = 1.0f;
        return sigmas;
    }
    const double step = (stop - 1.0) / (steps - 1);
    for (int i = 0; i < steps - 1; ++i) sigmas[static_cast<size_t>(i)] = static_cast<float>(i * step + 1.0);
    sigmas.back() = static_cast<float>(stop);
    return sigmas;
}

void check_base_sigmas(const std::vector<float>& sigmas) {
    for (size_t i = 0; i < sigmas.size(); ++i) {
        const float s = sigmas[i];
        if (!(std::isfinite(s) && s > 0.0f && s <= 1.0f))
            fail(SVDQ_ERROR_INVALID_ARGUMENT,
                 "sigma " + std::to_string(i) + " is " + value_text(s) + ": sigmas must be finite and in (0, 1]");
        if (i > 0 && !(s < sigmas[i - 1]))
            fail(SVDQ_ERROR_INVALID_ARGUMENT, "sigmas must be strictly decreasing: sigma " + std::to_string(i) + " (" +
                                                  value_text(s) + ") is not below sigma " + std::to_string(i - 1) +
                                                  " (" + value_text(sigmas[i - 1]) + ")");
    }
}

// Each operation rounds to float32, as numpy does for a float32 array with
// float64 scalars.
float static_shift(float sigma, float s, float s_minus_1) { return s * sigma / (1.0f + s_minus_1 * sigma); }
float time_shift(float sigma, float e) { return e / (e + (1.0f / sigma - 1.0f)); }

// Shifts the base sigmas in place as the config (or the override) says.
void apply_shift(std::vector<float>& sigmas, const SchedulerConfig& config, int64_t image_seq_len,
                 const std::optional<double>& shift_override) {
    const bool dynamic = config.use_dynamic_shifting && !shift_override;
    if (!dynamic) {
        const double s = shift_override ? *shift_override : config.shift;
        require(std::isfinite(s) && s > 0.0, SVDQ_ERROR_INVALID_ARGUMENT,
                "the shift must be finite and above 0 (got " + value_text(s) + ")");
        const float s32 = static_cast<float>(s), s_minus_1 = static_cast<float>(s - 1.0);
        for (float& sigma : sigmas) sigma = static_shift(sigma, s32, s_minus_1);
        return;
    }
    const double mu = calculate_shift(static_cast<double>(image_seq_len), config);
    const double e = config.time_shift_type == TimeShiftType::exponential ? std::exp(mu) : mu;
    require(std::isfinite(e) && e > 0.0 && std::isfinite(static_cast<float>(e)), SVDQ_ERROR_INVALID_ARGUMENT,
            "the dynamic shift mu = " + value_text(mu) + " (for " + std::to_string(image_seq_len) +
                " image tokens) gives no usable schedule");
    const float e32 = static_cast<float>(e);
    for (float& sigma : sigmas) sigma = time_shift(sigma, e32);
}

}  // namespace

double calculate_shift(double image_seq_len, const SchedulerConfig& c) {
    require(c.max_image_seq_len != c.base_image_seq_len, SVDQ_ERROR_INVALID_ARGUMENT,
            "base_image_seq_len and max_image_seq_len are both " + value_text(c.base_image_seq_len) +
                ": the dynamic shift's line is undefined");
    const double m = (c.max_shift - c.base_shift) / (c.max_image_seq_len - c.base_image_seq_len);
    const double b = c.base_shift - m * c.base_image_seq_len;
    return image_seq_len * m + b;
}

FlowSchedule make_flow_schedule(const SchedulerConfig& config, int64_t image_seq_len, const ScheduleOptions& options) {
    std::vector<float> sigmas;
    if (options.sigmas.empty()) {
        require(options.steps >= 1 && options.steps <= kMaxSteps, SVDQ_ERROR_INVALID_ARGUMENT,
                "steps must be in [1, " + std::to_string(kMaxSteps) + "] (got " + std::to_string(options.steps) + ")");
        sigmas = linspace_sigmas(options.steps);
    } else {
        require(options.sigmas.size() <= static_cast<size_t>(kMaxSteps), SVDQ_ERROR_INVALID_ARGUMENT,
                "at most " + std::to_string(kMaxSteps) + " sigmas (got " + std::to_string(options.sigmas.size()) + ")");
        check_base_sigmas(options.sigmas);
        sigmas = options.sigmas;
    }
    require(image_seq_len >= 1, SVDQ_ERROR_INVALID_ARGUMENT,
            "image_seq_len must be at least 1 (got " + std::to_string(image_seq_len) + ")");
    const double strength = options.strength;
    require(std::isfinite(strength) && strength >= 0.0 && strength <= 1.0, SVDQ_ERROR_INVALID_ARGUMENT,
            "strength must be in [0, 1] (got " + value_text(strength) + ")");

    apply_shift(sigmas, config, image_seq_len, options.shift_override);
    // An extreme shift can round neighbours to the same float32 (or to 0).
    for (size_t i = 0; i < sigmas.size(); ++i) {
        if (!std::isfinite(sigmas[i]) || !(sigmas[i] > 0.0f) || (i > 0 && !(sigmas[i] < sigmas[i - 1])))
            fail(SVDQ_ERROR_INVALID_ARGUMENT, "the shift leaves no strictly decreasing schedule: shifted sigma " +
                                                  std::to_string(i) + " is " + value_text(sigmas[i]) +
                                                  (i == 0 ? "" : " after " + value_text(sigmas[i - 1])));
    }
    sigmas.push_back(0.0f);

    // get_timesteps of diffusers' image-to-image pipelines.
    const int n = static_cast<int>(sigmas.size()) - 1;
    const double init_timestep = std::min(n * strength, static_cast<double>(n));
    const int t_start = static_cast<int>(std::max(n - init_timestep, 0.0));
    FlowSchedule schedule;
    schedule.first_step = t_start;
    schedule.sigmas.assign(sigmas.begin() + t_start, sigmas.end());
    return schedule;
}

void scale_noise(const float* x0, const float* noise, float sigma, float* out, size_t count) {
    const float keep = 1.0f - sigma;
    for (size_t i = 0; i < count; ++i) out[i] = sigma * noise[i] + keep * x0[i];
}

}  // namespace svdq
