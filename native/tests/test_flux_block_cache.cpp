// The first-block cache: skips the blocks after the first exactly when the
// first block's residual changed relatively less than the threshold, reuses
// the remainder of the last full step, and with threshold 0 changes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/context.h"
#include "core/error.h"
#include "formats/safetensors_file.h"
#include "models/flux/flux_block_cache.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "test_util.h"

namespace svdq {

namespace {

const std::string kModel = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";

// Two consecutive "steps": flux-tiny's inputs, then the same latents moved a
// little towards noise at a smaller timestep, as a sampler step moves them.
struct Steps {
    FluxInputSet first, second;
};

Steps two_steps(const FluxConfig& config) {
    Steps s{read_flux_inputs(SafeTensorsFile(kModel + "/inputs.safetensors"), config), {}};
    s.second = s.first;
    for (size_t i = 0; i < s.second.hidden_states.size(); ++i)
        s.second.hidden_states[i] += 0.05f * std::sin(static_cast<float>(i));
    for (float& t : s.second.timestep) t *= 0.98f;
    return s;
}

// The image states before and after the first double block, from the trace.
std::vector<double> first_block_residual(Context& ctx, const FluxTransformer& model, const FluxInputSet& in) {
    std::vector<float> before, after;
    model.forward(ctx, in.view(), [&](const std::string& name, const std::vector<float>& v) {
        if (name == "x_embedded") before = v;
        if (name == "transformer_blocks.0.hidden_states") after = v;
    });
    std::vector<double> r(after.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<double>(after[i]) - static_cast<double>(before[i]);
    return r;
}

// mean|r2 - r1| / mean|r1| of the first block's residuals at the two steps.
double relative_change(Context& ctx, const FluxTransformer& model, const Steps& s) {
    const std::vector<double> r1 = first_block_residual(ctx, model, s.first), r2 = first_block_residual(ctx, model, s.second);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < r1.size(); ++i) {
        diff += std::fabs(r2[i] - r1[i]);
        norm += std::fabs(r1[i]);
    }
    return diff / norm;
}

}  // namespace

TEST(FluxBlockCache, ThresholdZeroIsBitIdenticalToNoCache) {
    Context ctx(test::context_options());
    const FluxCheckpoint checkpoint(kModel);
    const FluxTransformer model(ctx, checkpoint);
    const Steps s = two_steps(checkpoint.config());
    FluxBlockCache cache(0.0f);
    for (const FluxInputSet* in : {&s.first, &s.second, &s.second}) {
        std::vector<float> cached(model.forward(ctx, in->view()).size());
        model.forward(ctx, in->view(), cached.data(), {}, {}, &cache);
        EXPECT_EQ(cached, model.forward(ctx, in->view()));
    }
    EXPECT_EQ(cache.skipped_steps(), 0);
}

// The rule, against the relative change computed here from the trace:
// mean|r2 - r1| / mean|r1| just above the threshold computes the step, just
// below skips it, and a skipped step is the first block's output plus the
// remainder cached at the last full step.
TEST(FluxBlockCache, SkipsExactlyWhenTheFirstBlockResidualChangedLessThanTheThreshold) {
    Context ctx(test::context_options());
    const FluxCheckpoint checkpoint(kModel);
    const FluxTransformer model(ctx, checkpoint);
    const Steps s = two_steps(checkpoint.config());
    const double change = relative_change(ctx, model, s);
    std::printf("relative change of the first block's residual between the steps: %.4f\n", change);
    ASSERT_GT(change, 0.01) << "the two steps must differ enough to tell the thresholds apart";

    const std::vector<float> full = model.forward(ctx, s.second.view());
    std::vector<float> out(full.size());
    {
        FluxBlockCache cache(static_cast<float>(change * 0.99));
        model.forward(ctx, s.first.view(), out.data(), {}, {}, &cache);
        model.forward(ctx, s.second.view(), out.data(), {}, {}, &cache);
        EXPECT_EQ(cache.skipped_steps(), 0);
        EXPECT_EQ(out, full) << "a computed step is the full forward";
    }
    FluxBlockCache cache(static_cast<float>(change * 1.01));
    model.forward(ctx, s.first.view(), out.data(), {}, {}, &cache);
    model.forward(ctx, s.second.view(), out.data(), {}, {}, &cache);
    EXPECT_EQ(cache.skipped_steps(), 1);
    // Skipping changes the output (the remainder is the first step's) by what
    // the later blocks would have added differently: measured 0.108 on this
    // random tiny model (a dropped remainder: 0.314); bound ~10% above.
    const double error = test::frobenius_rel_error(out, full);
    std::printf("skipped step vs computed step: relative error %.4f\n", error);
    EXPECT_GT(error, 0.0);
    EXPECT_LT(error, 0.12);

    // Repeating the cached step's own inputs: the residual is unchanged, the
    // remainder exact, so the output is the full one up to float rounding.
    FluxBlockCache same(1e-6f);
    model.forward(ctx, s.first.view(), out.data(), {}, {}, &same);
    model.forward(ctx, s.first.view(), out.data(), {}, {}, &same);
    EXPECT_EQ(same.skipped_steps(), 1);
    EXPECT_LT(test::max_rel_error(out, model.forward(ctx, s.first.view())), 1e-5);
}

// Each step after the first logs the relative change it measured at debug
// level, so a user can pick a threshold from the model's own changes: the
// change computed here from the trace, and whether the rest was skipped.
TEST(FluxBlockCache, LogsEachStepsRelativeChangeAtDebugLevel) {
    std::vector<std::string> lines;
    svdq_context_options options = test::context_options();
    options.log_level = SVDQ_LOG_DEBUG;
    options.log_user = &lines;
    options.log_callback = [](int32_t, const char* message, void* user) {
        if (std::string(message).rfind("first-block cache:", 0) == 0) static_cast<std::vector<std::string>*>(user)->push_back(message);
    };
    Context ctx(options);
    const FluxCheckpoint checkpoint(kModel);
    const FluxTransformer model(ctx, checkpoint);
    const Steps s = two_steps(checkpoint.config());
    const double change = relative_change(ctx, model, s);
    std::vector<float> out(model.forward(ctx, s.first.view()).size());
    for (const float threshold : {0.0f, static_cast<float>(change * 1.01)}) {
        lines.clear();
        FluxBlockCache cache(threshold);
        model.forward(ctx, s.first.view(), out.data(), {}, {}, &cache);
        EXPECT_TRUE(lines.empty()) << "the first step has nothing to compare with";
        model.forward(ctx, s.second.view(), out.data(), {}, {}, &cache);
        ASSERT_EQ(lines.size(), 1u);
        const std::string prefix = "first-block cache: relative change ";
        ASSERT_EQ(lines[0].rfind(prefix, 0), 0u) << lines[0];
        EXPECT_NEAR(std::stod(lines[0].substr(prefix.size())), change, 1e-5) << lines[0];
        EXPECT_NE(lines[0].find(threshold > 0.0f ? "rest skipped" : "computed"), std::string::npos) << lines[0];
    }
}

TEST(FluxBlockCache, ANegativeOrNonFiniteThresholdIsRefused) {
    for (float bad : {-0.1f, NAN, INFINITY}) {
        try {
            FluxBlockCache cache(bad);
            ADD_FAILURE() << "threshold " << bad << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SVDQ_ERROR_INVALID_ARGUMENT);
        }
    }
}

}  // namespace svdq
