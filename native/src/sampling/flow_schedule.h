// The sigma schedule of a flow-matching model, exactly as diffusers'
// FluxPipeline with FlowMatchEulerDiscreteScheduler builds it, float32 step
// by step (numpy float32 arrays with float64 scalars):
//
//   base    sigma_i = float32(linspace(1, 1/N, N)_i), linspace in float64
//           (1 + i * ((1/N - 1) / (N - 1)), the last exactly 1/N), or the
//           caller's sigma list;
//   shift   dynamic, exponential: sigma' = E / (E + (1/sigma - 1)), E = float32(e^mu)
//           dynamic, linear:      sigma' = M / (M + (1/sigma - 1)), M = float32(mu)
//           static:               sigma' = S*sigma / (1 + T*sigma),
//                                 S = float32(s), T = float32(s - 1)
//           each operation rounded to float32, as numpy does;
//   mu      calculate_shift: the straight line through (base_image_seq_len,
//           base_shift) and (max_image_seq_len, max_shift) at image_seq_len,
//           in float64, extrapolated outside the range (no clamp);
//   end     0 appended: N + 1 values;
//   cut     image-to-image strength (the pipelines' get_timesteps):
//           init = min(N * strength, N), t_start = int(max(N - init, 0)),
//           the run starts at sigmas[t_start].
//
// The transformer is given timestep = sigma itself (the `flux forward` input
// is t / 1000 and diffusers' t is sigma * 1000). diffusers rounds t = sigma *
// 1000 and then t / 1000 to the latents' dtype, which in float32 can move the
// model's input by one ulp of sigma; we pass sigma exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "sampling/scheduler_config.h"

namespace svdq {

// mu of the dynamic shift for `image_seq_len` packed image tokens
// (diffusers' calculate_shift), in float64.
double calculate_shift(double image_seq_len, const SchedulerConfig& config);

struct ScheduleOptions {
    int steps = 28;  // N, when `sigmas` is empty
    // The caller's base sigmas instead of linspace(1, 1/N, N): finite,
    // strictly decreasing, in (0, 1]; N is their count. They are shifted like
    // the default ones (as diffusers does); shift_override = 1 keeps them as given.
    std::vector<float> sigmas;
    // A static shift s > 0 that replaces the config's shift, dynamic or not:
    // sigma' = s*sigma / (1 + (s - 1)*sigma), which is the exponential time
    // shift with mu = ln(s) (e.g. s = e^1.15 ~ 3.158 for FLUX.1-dev at 1024x1024).
    std::optional<double> shift_override;
    // Image-to-image: the share of the schedule run, in (0, 1]; 1 runs it all.
    double strength = 1.0;
};

// The sigmas a run integrates over: steps() + 1 values, strictly decreasing,
// sigmas.front() where it starts (1 for a full text-to-image run), and 0 last.
struct FlowSchedule {
    std::vector<float> sigmas;
    int first_step = 0;  // t_start: how many of the N steps the strength cut skipped
    int steps() const { return static_cast<int>(sigmas.size()) - 1; }
};

// The schedule for a model with `config` generating `image_seq_len` packed
// image tokens (at least 1 step is always left). Bad options (steps outside
// [1, 10000], a bad sigma list, a shift <= 0 or one so extreme that shifted
// sigmas round together, strength outside [0, 1]) are
// SVDQ_ERROR_INVALID_ARGUMENT naming the value.
FlowSchedule make_flow_schedule(const SchedulerConfig& config, int64_t image_seq_len, const ScheduleOptions& options);

// diffusers' scale_noise, the forward process: sigma * noise + (1 - sigma) * x0
// per element, in float32 (out may alias x0 or noise). Image-to-image starts
// from scale_noise(x0, schedule.sigmas[0], noise).
void scale_noise(const float* x0, const float* noise, float sigma, float* out, size_t count);

}  // namespace svdq
