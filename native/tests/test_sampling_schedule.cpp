// Flow-matching schedules against diffusers' arithmetic (float32 bit patterns
// computed by sampling_reference.py with numpy, following pipeline_flux.py and
// scheduling_flow_match_euler_discrete.py) and against the published formula
// in float64 written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "expect_error.h"
#include "sampling/flow_schedule.h"

namespace svdq {
namespace {

using test::expect_error;

std::vector<uint32_t> bits_of(const std::vector<float>& values) {
    std::vector<uint32_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
    return bits;
}

FlowSchedule schedule_of(const SchedulerConfig& config, int64_t tokens, int steps) {
    ScheduleOptions options;
    options.steps = steps;
    return make_flow_schedule(config, tokens, options);
}

const SchedulerConfig kDev = default_scheduler_config(true);
const SchedulerConfig kSchnell = default_scheduler_config(false);

// The published formula in float64: linspace(1, 1/N, N), the straight-line
// mu through (256, 0.5) and (4096, 1.15), sigma' = e^mu / (e^mu + 1/sigma - 1).
std::vector<double> published_sigmas(int n, int64_t tokens, bool dynamic) {
    const double mu = 0.5 + (static_cast<double>(tokens) - 256.0) * (1.15 - 0.5) / (4096.0 - 256.0);
    std::vector<double> sigmas;
    for (int i = 0; i < n; ++i) {
        const double sigma = n == 1 ? 1.0 : 1.0 - i * (1.0 - 1.0 / n) / (n - 1);
        sigmas.push_back(dynamic ? std::exp(mu) / (std::exp(mu) + 1.0 / sigma - 1.0) : sigma);
    }
    sigmas.push_back(0.0);
    return sigmas;
}

TEST(FlowSchedule, MatchesDiffusersFloat32BitForBit) {
    // dev (dynamic exponential shift), 4 steps, 1024x1024 = 4096 tokens: mu = 1.15.
    EXPECT_EQ(bits_of(schedule_of(kDev, 4096, 4).sigmas),
              (std::vector<uint32_t>{0x3f800000, 0x3f678f54, 0x3f426f4f, 0x3f0349c1, 0x00000000}));
    // dev, 28 steps, 512x512 = 1024 tokens: mu = 0.63.
    EXPECT_EQ(bits_of(schedule_of(kDev, 1024, 28).sigmas),
              (std::vector<uint32_t>{0x3f800000, 0x3f7b0c45, 0x3f75ecc0, 0x3f709f23, 0x3f6b20f5, 0x3f656f8e,
                                     0x3f5f8813, 0x3f596774, 0x3f530a65, 0x3f4c6d53, 0x3f458c6b, 0x3f3e637c,
                                     0x3f36ee09, 0x3f2f2729, 0x3f27098c, 0x3f1e8f67, 0x3f15b268, 0x3f0c6ba2,
                                     0x3f02b386, 0x3ef10382, 0x3edb9a62, 0x3ec5177a, 0x3ead6481, 0x3e9468bd,
                                     0x3e74116e, 0x3e3c4b9d, 0x3e013b90, 0x3d8528ff, 0x00000000}));
    // schnell: unshifted, 1, 0.75, 0.5, 0.25, 0 (the token count does not matter).
    EXPECT_EQ(schedule_of(kSchnell, 4096, 4).sigmas, (std::vector<float>{1.0f, 0.75f, 0.5f, 0.25f, 0.0f}));
    EXPECT_EQ(schedule_of(kSchnell, 17, 4).sigmas, schedule_of(kSchnell, 4096, 4).sigmas);
    // One step: linspace(1, 1, 1) = [1].
    EXPECT_EQ(schedule_of(kDev, 4096, 1).sigmas, (std::vector<float>{1.0f, 0.0f}));
}

// Measured worst |engine - float64 formula| over these schedules: 9.3e-8
// (float32 rounding of sigma, then 1/sigma, the sum and the quotient, each
// within half an ulp of values <= 1). Bound 2e-7; a wrong mu (e.g. base and
// max sequence lengths swapped) or a dropped shift moves sigmas by >1e-2.
TEST(FlowSchedule, FollowsThePublishedFormulaAt4_28_50Steps) {
    for (const int n : {4, 28, 50}) {
        for (const auto& [tokens, dynamic] : std::vector<std::pair<int64_t, bool>>{{4096, true}, {1024, true}, {4096, false}}) {
            const FlowSchedule schedule = schedule_of(dynamic ? kDev : kSchnell, tokens, n);
            const std::vector<double> expected = published_sigmas(n, tokens, dynamic);
            ASSERT_EQ(schedule.steps(), n);
            ASSERT_EQ(schedule.sigmas.size(), expected.size());
            EXPECT_EQ(schedule.first_step, 0);
            for (size_t i = 0; i < expected.size(); ++i) {
                EXPECT_NEAR(schedule.sigmas[i], expected[i], 2e-7) << n << " steps, " << tokens << " tokens, sigma " << i;
            }
        }
    }
        // Hand-computed spot values: mu(4096) = 1.15, e^1.15 = 3.158192909689767;
    // sigma 0.75 -> 3.158192909689767 / (3.158192909689767 + 1/3) = 0.9045308
    EXPECT_NEAR(schedule_of(kDev, 4096, 4).sigmas[1], 3.158192909689767 / (3.158192909689767 + 1.0 / 3.0), 1e-7);
    EXPECT_NEAR(schedule_of(kDev, 4096, 4).sigmas[1], 0.9045308, 1e-7);
    EXPECT_NEAR(schedule_of(kDev, 4096, 50).sigmas[25], 0.759510934, 1e-7);  // numpy/diffusers, 50 steps
}

TEST(FlowSchedule, CalculateShiftIsTheStraightLineExtrapolated) {
    EXPECT_NEAR(calculate_shift(256, kDev), 0.5, 1e-15);
    EXPECT_NEAR(calculate_shift(4096, kDev), 1.15, 1e-15);
    EXPECT_NEAR(calculate_shift(1024, kDev), 0.63, 1e-15);
    EXPECT_NEAR(calculate_shift(16, kDev), 0.459375, 1e-15);    // below the range: no clamp
    EXPECT_NEAR(calculate_shift(16384, kDev), 3.23, 1e-14);     // above it
    SchedulerConfig custom = kDev;
    custom.base_shift = 1.0;
    custom.max_shift = 2.0;
    custom.base_image_seq_len = 100;
    custom.max_image_seq_len = 1100;
    EXPECT_NEAR(calculate_shift(600, custom), 1.5, 1e-15);
}

TEST(FlowSchedule, ShiftOverrideIsAStaticShift) {
    ScheduleOptions options;
    options.steps = 28;
    options.shift_override = 3.0;
    // The static formula in float64 (measured worst 1.1e-7), on a dynamic
    // config: the override wins.
    const FlowSchedule shifted = make_flow_schedule(kDev, 4096, options);
    const std::vector<double> base = published_sigmas(28, 4096, false);
    for (size_t i = 0; i < base.size(); ++i)
        EXPECT_NEAR(shifted.sigmas[i], 3.0 * base[i] / (1.0 + 2.0 * base[i]), 2e-7) << i;
    // s = e^mu is the exponential time shift with that mu: the same schedule
    // within rounding (measured 1.2e-7).
    options.shift_override = std::exp(calculate_shift(4096, kDev));
    const FlowSchedule as_mu = make_flow_schedule(kSchnell, 4096, options);
    const FlowSchedule dynamic = schedule_of(kDev, 4096, 28);
    for (size_t i = 0; i < dynamic.sigmas.size(); ++i) EXPECT_NEAR(as_mu.sigmas[i], dynamic.sigmas[i], 2e-7) << i;

    for (const double bad : {0.0, -1.0, double{NAN}, double{INFINITY}}) {
        options.shift_override = bad;
        expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "shift", [&] { make_flow_schedule(kDev, 4096, options); });
    }
}

TEST(FlowSchedule, UserSigmasAreShiftedAsDiffusersShiftsThem) {
    ScheduleOptions options;
    options.sigmas = {1.0f, 0.7f, 0.4f, 0.1f};
    EXPECT_EQ(bits_of(make_flow_schedule(kDev, 1024, options).sigmas),
              (std::vector<uint32_t>{0x3f800000, 0x3f506d0f, 0x3f0e4f66, 0x3e30c14f, 0x00000000}));
    // Shift 1 keeps them exactly as given; the count decides the steps.
    options.shift_override = 1.0;
    options.steps = 99;
    EXPECT_EQ(make_flow_schedule(kDev, 1024, options).sigmas, (std::vector<float>{1.0f, 0.7f, 0.4f, 0.1f, 0.0f}));

    const std::vector<std::pair<std::vector<float>, std::string>> bad = {
        {{1.0f, 0.5f, 0.5f}, "strictly decreasing"}, {{0.5f, 0.7f}, "strictly decreasing"},
        {{1.5f, 0.5f}, "sigma 0 is 1.5"},            {{0.5f, 0.0f}, "sigma 1 is 0"},
        {{1.0f, NAN}, "sigma 1 is NaN"},              {{1.0f, -0.1f}, "sigma 1 is -0.1"}};
    for (const auto& [sigmas, message] : bad) {
        options.sigmas = sigmas;
        expect_error(SVDQ_ERROR_INVALID_ARGUMENT, message, [&] { make_flow_schedule(kDev, 1024, options); });
    }
}

TEST(FlowSchedule, StrengthCutsAsGetTimesteps) {
    const FlowSchedule full = schedule_of(kDev, 4096, 28);
    const auto cut = [&](int steps, double strength) {
        ScheduleOptions options;
        options.steps = steps;
        options.strength = strength;
        return make_flow_schedule(kDev, 4096, options);
    };
    // 28 * 0.6 = 16.8: t_start = int(28 - 16.8) = 11, 17 steps left.
    const FlowSchedule img2img = cut(28, 0.6);
    EXPECT_EQ(img2img.first_step, 11);
    EXPECT_EQ(img2img.steps(), 17);
    EXPECT_EQ(img2img.sigmas, std::vector<float>(full.sigmas.begin() + 11, full.sigmas.end()));
    // float64 as in Python: 25 * 0.56 = 14.000000000000002, int(10.999999999999998) = 10, not 11.
    EXPECT_EQ(cut(25, 0.56).first_step, 10);
    EXPECT_EQ(cut(25, 0.56).steps(), 15);
    EXPECT_EQ(cut(4, 0.5).first_step, 2);
    EXPECT_EQ(cut(28, 1.0).sigmas, full.sigmas);
    EXPECT_EQ(cut(28, 0.01).steps(), 1);  // int(28 - 0.28) = 27: one step, never zero
    EXPECT_EQ(cut(28, 0.01).sigmas.front(), full.sigmas[27]);
    // Strength 0 cuts every step: the run returns its image-to-image start.
    EXPECT_EQ(cut(28, 0.0).steps(), 0);
    EXPECT_EQ(cut(28, 0.0).sigmas, std::vector<float>{0.0f});
    for (const double bad : {-0.5, 1.5, double{NAN}})
        expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "strength", [&] { cut(28, bad); });
}

TEST(FlowSchedule, RejectsBadStepCounts) {
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "steps must be in [1, 10000] (got 0)", [] { schedule_of(kDev, 4096, 0); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "(got 10001)", [] { schedule_of(kDev, 4096, 10001); });
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "image_seq_len", [] { schedule_of(kDev, 0, 4); });
    // mu so large that every shifted sigma rounds to 1.
    SchedulerConfig extreme = kDev;
    extreme.max_shift = 80.0;
    expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "strictly decreasing", [&] { schedule_of(extreme, 4096, 4); });
}

TEST(FlowSchedule, ScaleNoiseIsTheForwardProcess) {
    const std::vector<float> x0 = {0.5f, -2.0f, 3.25f, 0.0f}, noise = {1.0f, 0.25f, -1.5f, 2.0f};
    std::vector<float> out(4);
    for (const float sigma : {0.3f, 0.9045323f}) {
        scale_noise(x0.data(), noise.data(), sigma, out.data(), out.size());
        for (size_t i = 0; i < out.size(); ++i)
            EXPECT_NEAR(out[i], double{sigma} * noise[i] + (1.0 - sigma) * x0[i], 1e-6) << i;
    }
    scale_noise(x0.data(), noise.data(), 1.0f, out.data(), out.size());
    EXPECT_EQ(out, noise);  // a full-strength start is the noise itself
    scale_noise(x0.data(), noise.data(), 0.0f, out.data(), out.size());
    EXPECT_EQ(out, x0);
}

// --- scheduler_config.json ----------------------------------------------------

TEST(SchedulerConfig, ReadsDiffusersFluxConfigs) {
    // FLUX.1-dev's scheduler/scheduler_config.json.
    const SchedulerConfig dev = parse_scheduler_config(R"({
        "_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0",
        "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
        "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true})",
                                                       "dev");
    EXPECT_TRUE(dev.use_dynamic_shifting);
    EXPECT_EQ(dev.shift, 3.0);
    EXPECT_EQ(bits_of(schedule_of(dev, 4096, 4).sigmas), bits_of(schedule_of(kDev, 4096, 4).sigmas));
    // FLUX.1-schnell's: static shift 1; newer diffusers write the off switches too.
    const SchedulerConfig schnell = parse_scheduler_config(R"({
        "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
        "num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": false, "invert_sigmas": false,
        "shift_terminal": null, "use_karras_sigmas": false, "use_exponential_sigmas": false,
        "use_beta_sigmas": false, "time_shift_type": "exponential", "stochastic_sampling": false})",
                                                           "schnell");
    EXPECT_FALSE(schnell.use_dynamic_shifting);
    EXPECT_EQ(schedule_of(schnell, 4096, 4).sigmas, (std::vector<float>{1.0f, 0.75f, 0.5f, 0.25f, 0.0f}));
}

TEST(SchedulerConfig, StaticAndLinearShiftsFromTheFile) {
    // Static shift 3.0 (SD3-style), 8 steps: diffusers' float32 bits.
    const SchedulerConfig static3 = parse_scheduler_config(R"({"shift": 3.0, "use_dynamic_shifting": false})", "s");
    EXPECT_EQ(bits_of(schedule_of(static3, 4096, 8).sigmas),
              (std::vector<uint32_t>{0x3f800000, 0x3f745d17, 0x3f666666, 0x3f555555, 0x3f400000, 0x3f249249,
                                     0x3f000000, 0x3e99999a, 0x00000000}));
    // Dynamic with the linear time shift: sigma' = mu / (mu + 1/sigma - 1), 6 steps, mu = 1.15.
    const SchedulerConfig linear =
        parse_scheduler_config(R"({"use_dynamic_shifting": true, "time_shift_type": "linear"})", "l");
    EXPECT_EQ(linear.time_shift_type, TimeShiftType::linear);
    EXPECT_EQ(bits_of(schedule_of(linear, 4096, 6).sigmas),
              (std::vector<uint32_t>{0x3f800000, 0x3f5a12f6, 0x3f326c9b, 0x3f08ee23, 0x3ebaebae, 0x3e3f7acc,
                                     0x00000000}));
    // Its own line: base (64, 0.25), max (1024, 0.75) at 544 tokens -> mu = 0.5.
    const SchedulerConfig line = parse_scheduler_config(
        R"({"use_dynamic_shifting": true, "base_shift": 0.25, "max_shift": 0.75, "base_image_seq_len": 64,
            "max_image_seq_len": 1024})",
        "line");
    const FlowSchedule s = schedule_of(line, 544, 4);
    EXPECT_NEAR(s.sigmas[2], std::exp(0.5) / (std::exp(0.5) + 1.0), 1e-7);  // sigma 0.5
    // null keeps the default.
    EXPECT_EQ(parse_scheduler_config(R"({"base_shift": null, "shift": null})", "n").base_shift, 0.5);
}

TEST(SchedulerConfig, NamesWrongTypesAndUnsupportedSettings) {
    const std::vector<std::pair<std::string, std::string>> format_errors = {
        {R"({"use_dynamic_shifting": "yes"})", "cfg: use_dynamic_shifting must be true or false (got \"yes\")"},
        {R"({"shift": "3"})", "cfg: shift must be a number (got \"3\")"},
        {R"({"base_shift": [0.5]})", "cfg: base_shift must be a number"},
        {R"({"max_image_seq_len": true})", "cfg: max_image_seq_len must be a number"},
        {R"({"time_shift_type": "cubic"})", "cfg: time_shift_type must be \"exponential\" or \"linear\""},
        {R"({"shift": 0})", "cfg: shift must be above 0"},
        {R"({"use_dynamic_shifting": true, "base_image_seq_len": 512, "max_image_seq_len": 512})",
         "base_image_seq_len and max_image_seq_len are both 512"},
        {R"([1, 2])", "cfg is not a JSON object"},
        {R"({"shift": 3.0,)", "cfg is not valid JSON"},
    };
    for (const auto& error : format_errors)  // (clang 14 lambdas cannot capture structured bindings)
        expect_error(SVDQ_ERROR_FORMAT, error.second, [&] { parse_scheduler_config(error.first, "cfg"); });
    const std::vector<std::pair<std::string, std::string>> unsupported = {
        {R"({"use_karras_sigmas": true})", "cfg: use_karras_sigmas = true is not supported"},
        {R"({"shift_terminal": 0.1})", "cfg: shift_terminal = 0.1 is not supported"},
        {R"({"invert_sigmas": true})", "invert_sigmas"},
        {R"({"stochastic_sampling": true})", "stochastic_sampling"},
        {R"({"num_train_timesteps": 500})", "num_train_timesteps = 500 is not supported"},
    };
    for (const auto& error : unsupported)
        expect_error(SVDQ_ERROR_UNSUPPORTED, error.second, [&] { parse_scheduler_config(error.first, "cfg"); });
}

TEST(SchedulerConfig, DefaultsFollowTheGuidanceEmbedding) {
    EXPECT_TRUE(kDev.use_dynamic_shifting);
    EXPECT_FALSE(kSchnell.use_dynamic_shifting);
    EXPECT_EQ(kSchnell.shift, 1.0);
    EXPECT_EQ(kDev.time_shift_type, TimeShiftType::exponential);
    EXPECT_EQ(kDev.base_image_seq_len, 256);
    EXPECT_EQ(kDev.max_image_seq_len, 4096);
}

}  // namespace
}  // namespace svdq
