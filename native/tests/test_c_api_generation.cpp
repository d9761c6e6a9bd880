// FLUX generation through the C API on flux-tiny: Euler against the published
// update written here over svdq_flux_forward, true CFG, image-to-image and
// inpainting, determinism across thread counts, cancellation then a correct
// rerun, and bad input named.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <map>
#include <string>
#include <vector>

#include "svdquant.h"
#include "temp_path.h"

namespace {

const std::string kModel = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";

std::string last_error() { return svdq_last_error_message(); }

// An owned F32 tensor holding `v` with `shape`.
struct OwnedTensor {
    OwnedTensor(std::vector<int64_t> shape, const std::vector<float>& v) {
        EXPECT_EQ(svdq_tensor_create(SVDQ_DTYPE_F32, shape.data(), static_cast<int32_t>(shape.size()), &t), SVDQ_OK);
        void* data = nullptr;
        uint64_t bytes = 0;
        svdq_tensor_get_data(t, &data, &bytes);
        EXPECT_EQ(bytes, v.size() * sizeof(float));
        std::memcpy(data, v.data(), bytes);
    }
    ~OwnedTensor() { svdq_tensor_destroy(t); }
    OwnedTensor(const OwnedTensor&) = delete;
    OwnedTensor& operator=(const OwnedTensor&) = delete;
    std::vector<float> values() const {
        void* data = nullptr;
        uint64_t bytes = 0;
        svdq_tensor_get_data(t, &data, &bytes);
        return std::vector<float>(static_cast<float*>(data), static_cast<float*>(data) + bytes / sizeof(float));
    }
    svdq_tensor* t = nullptr;
};

// flux-tiny: in_channels 16 (4 latent channels), joint_attention_dim 32,
// pooled 24, guidance embedded. 64 x 48 pixels: 8 x 6 latents, 4 x 3 = 12 tokens.
constexpr int32_t kWidth = 64, kHeight = 48;
constexpr int64_t kTokens = 12, kFeatures = 16, kText = 5;

std::vector<float> pattern(size_t n, float scale, float phase) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i) + phase);
    return v;
}

class CApiGeneration : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(svdq_context_create(nullptr, &ctx_), SVDQ_OK);
        ASSERT_EQ(svdq_flux_load(ctx_, kModel.c_str(), nullptr, &model_), SVDQ_OK) << last_error();
    }
    void TearDown() override {
        svdq_flux_destroy(model_);
        svdq_context_destroy(ctx_);
    }

    // Options for the test size with given base sigmas kept as they are (shift 1).
    static svdq_generation_options options(const std::vector<float>& sigmas) {
        svdq_generation_options o;
        svdq_generation_options_init(&o);
        o.width = kWidth;
        o.height = kHeight;
        o.sigmas = sigmas.data();
        o.sigma_count = static_cast<int32_t>(sigmas.size());
        o.shift = 1.0f;
        return o;
    }

    // v(x, sigma) for one conditioning, through the transformer's own entry point.
    std::vector<float> velocity(const std::vector<float>& x, float sigma, const OwnedTensor& states, const OwnedTensor& pooled,
                                float guidance) {
        const int64_t img_shape[] = {1, kTokens, kFeatures}, one[] = {1}, img_ids_shape[] = {kTokens, 3},
                      txt_ids_shape[] = {kText, 3};
        std::vector<float> img_ids;
        for (int64_t r = 0; r < 3; ++r)  // _prepare_latent_image_ids: (0, row, col) over 3 x 4 patches
            for (int64_t c = 0; c < 4; ++c) img_ids.insert(img_ids.end(), {0.0f, static_cast<float>(r), static_cast<float>(c)});
        std::vector<float> txt_ids(kText * 3, 0.0f), xs = x, t{sigma}, g{guidance}, out(x.size());
        svdq_tensor *hidden = nullptr, *timestep = nullptr, *guide = nullptr, *iids = nullptr, *tids = nullptr, *y = nullptr;
        svdq_tensor_wrap(SVDQ_DTYPE_F32, img_shape, 3, xs.data(), xs.size() * 4, &hidden);
        svdq_tensor_wrap(SVDQ_DTYPE_F32, one, 1, t.data(), 4, &timestep);
        svdq_tensor_wrap(SVDQ_DTYPE_F32, one, 1, g.data(), 4, &guide);
        svdq_tensor_wrap(SVDQ_DTYPE_F32, img_ids_shape, 2, img_ids.data(), img_ids.size() * 4, &iids);
        svdq_tensor_wrap(SVDQ_DTYPE_F32, txt_ids_shape, 2, txt_ids.data(), txt_ids.size() * 4, &tids);
        svdq_tensor_wrap(SVDQ_DTYPE_F32, img_shape, 3, out.data(), out.size() * 4, &y);
        svdq_flux_inputs in{};
        in.struct_size = sizeof in;
        in.hidden_states = hidden;
        in.encoder_hidden_states = states.t;
        in.pooled_projections = pooled.t;
        in.timestep = timestep;
        in.guidance = guide;
        in.img_ids = iids;
        in.txt_ids = tids;
        EXPECT_EQ(svdq_flux_forward(ctx_, model_, &in, y), SVDQ_OK) << last_error();
        for (svdq_tensor* p : {hidden, timestep, guide, iids, tids, y}) svdq_tensor_destroy(p);
        return out;
    }

    std::vector<float> run(const svdq_generation_options& o, const svdq_generation_inputs& in, svdq_status expect = SVDQ_OK,
                           svdq_generation_report* report = nullptr, svdq_generation_progress_fn progress = nullptr,
                           void* user = nullptr, svdq_context* ctx = nullptr) {
        svdq_flux_generator* g = nullptr;
        EXPECT_EQ(svdq_flux_generator_create(model_, &o, &g), SVDQ_OK) << last_error();
        int64_t shape[3];
        EXPECT_EQ(svdq_flux_generator_get_latent_shape(g, shape), SVDQ_OK);
        EXPECT_EQ(shape[1], kTokens);
        EXPECT_EQ(shape[2], kFeatures);
        OwnedTensor out({1, kTokens, kFeatures}, std::vector<float>(kTokens * kFeatures, 0.0f));
        EXPECT_EQ(svdq_flux_generator_run(ctx ? ctx : ctx_, g, &in, out.t, progress, user, report), expect) << last_error();
        svdq_flux_generator_destroy(g);
        return out.values();
    }

    svdq_context* ctx_ = nullptr;
    svdq_flux* model_ = nullptr;
    OwnedTensor states_{{1, kText, 32}, pattern(kText * 32, 1.0f, 0.1f)};
    OwnedTensor pooled_{{1, 24}, pattern(24, 1.0f, 0.7f)};
    OwnedTensor noise_{{1, kTokens, kFeatures}, pattern(kTokens * kFeatures, 1.0f, 1.3f)};
};

}  // namespace

// Given noise and sigmas, Euler is x <- x + (sigma_next - sigma) v(x, sigma)
// (FlowMatchEulerDiscreteScheduler.step) with v the transformer at timestep =
// sigma and the embedded guidance; with cache threshold 0 the run is that,
// bit for bit.
TEST_F(CApiGeneration, EulerWithGivenNoiseIsThePublishedUpdate) {
    const std::vector<float> sigmas{1.0f, 0.75f, 0.5f, 0.25f};
    svdq_generation_options o = options(sigmas);
    o.guidance = 2.5f;
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    in.noise = noise_.t;
    svdq_generation_report report{};
    report.struct_size = sizeof report;
    const std::vector<float> latents = run(o, in, SVDQ_OK, &report);

    std::vector<float> x = noise_.values();
    const std::vector<float> schedule{1.0f, 0.75f, 0.5f, 0.25f, 0.0f};
    for (size_t i = 0; i + 1 < schedule.size(); ++i) {
        const std::vector<float> v = velocity(x, schedule[i], states_, pooled_, 2.5f);
        for (size_t j = 0; j < x.size(); ++j) x[j] += (schedule[i + 1] - schedule[i]) * v[j];
    }
    EXPECT_EQ(latents, x);
    EXPECT_EQ(report.steps, 4);
    EXPECT_EQ(report.evaluations, 4);
    EXPECT_EQ(report.cached, 0);
    EXPECT_EQ(report.guidance_ignored, 0);
    EXPECT_EQ(report.latent_channels, 4);
    EXPECT_EQ(report.latent_height, 6);
    EXPECT_EQ(report.latent_width, 8);
}

// True CFG: v = v_neg + S (v_pos - v_neg), two passes per step.
TEST_F(CApiGeneration, TrueCfgCombinesTwoPassesPerStep) {
    const std::vector<float> sigmas{1.0f, 0.5f};
    svdq_generation_options o = options(sigmas);
    o.true_cfg = 3.0f;
    const OwnedTensor negative_states({1, kText, 32}, pattern(kText * 32, 0.5f, 2.0f));
    const OwnedTensor negative_pooled({1, 24}, pattern(24, 0.5f, 2.5f));
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    in.negative_encoder_hidden_states = negative_states.t;
    in.negative_pooled_projections = negative_pooled.t;
    in.noise = noise_.t;
    svdq_generation_report report{};
    report.struct_size = sizeof report;
    const std::vector<float> latents = run(o, in, SVDQ_OK, &report);
    EXPECT_EQ(report.evaluations, 4);

    std::vector<float> x = noise_.values();
    const std::vector<float> schedule{1.0f, 0.5f, 0.0f};
    for (size_t i = 0; i + 1 < schedule.size(); ++i) {
        const std::vector<float> vp = velocity(x, schedule[i], states_, pooled_, 3.5f);
        const std::vector<float> vn = velocity(x, schedule[i], negative_states, negative_pooled, 3.5f);
        for (size_t j = 0; j < x.size(); ++j) x[j] += (schedule[i + 1] - schedule[i]) * (vn[j] + 3.0f * (vp[j] - vn[j]));
    }
    ASSERT_EQ(latents.size(), x.size());
    for (size_t j = 0; j < x.size(); ++j) EXPECT_NEAR(latents[j], x[j], 1e-5f * (1.0f + std::fabs(x[j]))) << j;
}

// Image-to-image as FluxImg2ImgPipeline: strength 0.5 of 4 steps keeps the
// last 2 (get_timesteps), the start is scale_noise(init, sigma_0, noise) =
// sigma_0 noise + (1 - sigma_0) init, then Euler. With a mask, after every
// step FluxInpaintPipeline's blend: (1 - m) scale_noise(init, sigma_next,
// noise) + m x, the original itself after the last step.
TEST_F(CApiGeneration, ImageToImageAndInpaintingFollowThePipelinesSteps) {
    const std::vector<float> sigmas{1.0f, 0.75f, 0.5f, 0.25f};
    svdq_generation_options o = options(sigmas);
    o.strength = 0.5f;
    const std::vector<float> init = pattern(kTokens * kFeatures, 0.8f, 0.4f);
    std::vector<float> mask(kTokens * kFeatures, 0.0f);
    for (size_t j = 0; j < mask.size(); j += 3) mask[j] = 1.0f;  // repaint every third value
    const OwnedTensor init_latents({1, kTokens, kFeatures}, init), mask_tensor({1, kTokens, kFeatures}, mask);
    const std::vector<float> noise = noise_.values(), schedule{0.5f, 0.25f, 0.0f};
    for (const bool inpaint : {false, true}) {
        SCOPED_TRACE(inpaint ? "inpaint" : "image-to-image");
        svdq_generation_inputs in{};
        in.struct_size = sizeof in;
        in.encoder_hidden_states = states_.t;
        in.pooled_projections = pooled_.t;
        in.noise = noise_.t;
        in.init_latents = init_latents.t;
        in.mask = inpaint ? mask_tensor.t : nullptr;
        svdq_generation_report report{};
        report.struct_size = sizeof report;
        const std::vector<float> latents = run(o, in, SVDQ_OK, &report);
        EXPECT_EQ(report.steps, 2);
        EXPECT_EQ(report.evaluations, 2);

        std::vector<float> x(init.size());
        for (size_t j = 0; j < x.size(); ++j) x[j] = schedule[0] * noise[j] + (1.0f - schedule[0]) * init[j];
        for (size_t i = 0; i + 1 < schedule.size(); ++i) {
            const float next = schedule[i + 1];
            const std::vector<float> v = velocity(x, schedule[i], states_, pooled_, 3.5f);
            for (size_t j = 0; j < x.size(); ++j) {
                x[j] += (next - schedule[i]) * v[j];
                if (inpaint) x[j] = (1.0f - mask[j]) * (next * noise[j] + (1.0f - next) * init[j]) + mask[j] * x[j];
            }
        }
        ASSERT_EQ(latents.size(), x.size());
        for (size_t j = 0; j < x.size(); ++j) EXPECT_NEAR(latents[j], x[j], 1e-6f * (1.0f + std::fabs(x[j]))) << j;
        if (!inpaint) continue;
        for (size_t j = 0; j < x.size(); ++j) {
            if (mask[j] == 0.0f) {
                EXPECT_EQ(latents[j], init[j]) << "kept exactly where the mask is 0, at " << j;
            }
        }
    }
}

// Strength 0 cuts every step: the run returns the init latents exactly (the
// pipeline's image-to-image at strength 0 then decodes the encoded input);
// without init latents such a run means nothing and is refused.
TEST_F(CApiGeneration, StrengthZeroReturnsTheInitLatents) {
    const std::vector<float> sigmas{1.0f, 0.75f, 0.5f, 0.25f};  // options() keeps a pointer to them
    svdq_generation_options o = options(sigmas);
    o.strength = 0.0f;
    const std::vector<float> init = pattern(kTokens * kFeatures, 0.8f, 0.4f);
    const OwnedTensor init_latents({1, kTokens, kFeatures}, init);
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    in.init_latents = init_latents.t;
    svdq_generation_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(run(o, in, SVDQ_OK, &report), init);
    EXPECT_EQ(report.steps, 0);
    EXPECT_EQ(report.evaluations, 0);

    in.init_latents = nullptr;
    svdq_flux_generator* g = nullptr;
    ASSERT_EQ(svdq_flux_generator_create(model_, &o, &g), SVDQ_OK) << last_error();
    OwnedTensor out({1, kTokens, kFeatures}, std::vector<float>(kTokens * kFeatures, 0.0f));
    EXPECT_EQ(svdq_flux_generator_run(ctx_, g, &in, out.t, nullptr, nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("runs no step"), std::string::npos) << last_error();
    svdq_flux_generator_destroy(g);
}

// The seeded noise and every sampler give the same latents at 1 and 2 threads.
TEST_F(CApiGeneration, DeterministicAcrossThreadCounts) {
    svdq_context_options co;
    svdq_context_options_init(&co);
    co.num_threads = 1;
    svdq_context* single = nullptr;
    ASSERT_EQ(svdq_context_create(&co, &single), SVDQ_OK);
    for (const char* sampler : {"euler", "heun", "dpmpp2m", "euler_a"}) {
        SCOPED_TRACE(sampler);
        svdq_generation_options o;
        svdq_generation_options_init(&o);
        o.width = kWidth;
        o.height = kHeight;
        o.steps = 3;
        o.seed = 1234;
        o.sampler = sampler;
        svdq_generation_inputs in{};
        in.struct_size = sizeof in;
        in.encoder_hidden_states = states_.t;
        in.pooled_projections = pooled_.t;
        const std::vector<float> a = run(o, in), b = run(o, in, SVDQ_OK, nullptr, nullptr, nullptr, single);
        EXPECT_EQ(a, b);
        o.seed = 1235;
        EXPECT_NE(run(o, in), a) << "another seed, other noise";
    }
    svdq_context_destroy(single);
}

// A run cancelled from the progress callback returns CANCELLED; the same
// generator then runs to the same latents as an uncancelled run.
TEST_F(CApiGeneration, CancelThenRerunGivesTheFullResult) {
    svdq_generation_options o;
    svdq_generation_options_init(&o);
    o.width = kWidth;
    o.height = kHeight;
    o.steps = 4;
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    const std::vector<float> full = run(o, in);

    struct Seen {
        std::vector<int32_t> steps;
        int32_t cancel_at;
    } seen{{}, 2};
    const svdq_generation_progress_fn stop = [](void* user, const svdq_generation_step* s) -> int32_t {
        auto* state = static_cast<Seen*>(user);
        state->steps.push_back(s->step);
        EXPECT_EQ(s->total, 4);
        EXPECT_GE(s->elapsed_seconds, 0.0);
        return s->step == state->cancel_at ? 1 : 0;
    };
    svdq_flux_generator* g = nullptr;
    ASSERT_EQ(svdq_flux_generator_create(model_, &o, &g), SVDQ_OK) << last_error();
    OwnedTensor out({1, kTokens, kFeatures}, std::vector<float>(kTokens * kFeatures, 0.0f));
    EXPECT_EQ(svdq_flux_generator_run(ctx_, g, &in, out.t, stop, &seen, nullptr), SVDQ_ERROR_CANCELLED);
    EXPECT_EQ(seen.steps, (std::vector<int32_t>{1, 2}));
    seen = {{}, 0};
    ASSERT_EQ(svdq_flux_generator_run(ctx_, g, &in, out.t, stop, &seen, nullptr), SVDQ_OK) << last_error();
    EXPECT_EQ(seen.steps, (std::vector<int32_t>{1, 2, 3, 4}));
    EXPECT_EQ(out.values(), full);
    svdq_flux_generator_destroy(g);
}

// A schnell-style copy of flux-tiny: no guidance embedding (its tensors
// dropped, guidance_embeds false), no scheduler config. Its schedule is
// unshifted and the guidance option is ignored and reported.
TEST_F(CApiGeneration, WithoutAGuidanceEmbeddingTheScheduleIsUnshiftedAndGuidanceIgnored) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("svdq_schnell_tiny_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    {
        std::ifstream in(kModel + "/config.json");
        std::stringstream text;
        text << in.rdbuf();
        std::string config = text.str();
        const std::string from = "\"guidance_embeds\": true";
        config.replace(config.find(from), from.size(), "\"guidance_embeds\": false");
        std::ofstream(dir / "config.json") << config;
    }
    svdq_safetensors* file = nullptr;
    ASSERT_EQ(svdq_safetensors_open((kModel + "/diffusion_pytorch_model.safetensors").c_str(), &file), SVDQ_OK);
    svdq_safetensors_writer* writer = nullptr;
    svdq_safetensors_writer_create(&writer);
    svdq_safetensors_info info{};
    info.struct_size = sizeof info;
    svdq_safetensors_get_info(file, &info);
    for (int64_t i = 0; i < info.tensor_count; ++i) {
        svdq_safetensors_tensor t{};
        t.struct_size = sizeof t;
        svdq_safetensors_get_tensor(file, i, &t);
        if (std::string(t.name).find("guidance_embedder") != std::string::npos) continue;
        ASSERT_EQ(svdq_safetensors_writer_add_tensor(writer, t.name, t.dtype, t.shape, t.ndim, t.data, t.size_bytes), SVDQ_OK);
    }
    ASSERT_EQ(svdq_safetensors_writer_save(writer, (dir / "diffusion_pytorch_model.safetensors").u8string().c_str()), SVDQ_OK) << last_error();
    svdq_safetensors_writer_destroy(writer);
    svdq_safetensors_destroy(file);
    svdq_flux* schnell = nullptr;
    ASSERT_EQ(svdq_flux_load(ctx_, dir.u8string().c_str(), nullptr, &schnell), SVDQ_OK) << last_error();

    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    in.noise = noise_.t;
    const auto generate = [&](const svdq_generation_options& o, svdq_generation_report* report) {
        svdq_flux_generator* g = nullptr;
        EXPECT_EQ(svdq_flux_generator_create(schnell, &o, &g), SVDQ_OK) << last_error();
        OwnedTensor out({1, kTokens, kFeatures}, std::vector<float>(kTokens * kFeatures, 0.0f));
        EXPECT_EQ(svdq_flux_generator_run(ctx_, g, &in, out.t, nullptr, nullptr, report), SVDQ_OK) << last_error();
        svdq_flux_generator_destroy(g);
        return out.values();
    };
    svdq_generation_options o;
    svdq_generation_options_init(&o);
    o.width = kWidth;
    o.height = kHeight;
    o.steps = 4;
    svdq_generation_report report{};
    report.struct_size = sizeof report;
    const std::vector<float> by_default = generate(o, &report);
    EXPECT_EQ(report.guidance_ignored, 1);
    // The same run over linspace(1, 1/4, 4) = 1, 0.75, 0.5, 0.25 kept as given.
    const std::vector<float> sigmas{1.0f, 0.75f, 0.5f, 0.25f};
    svdq_generation_options explicit_sigmas = options(sigmas);
    EXPECT_EQ(generate(explicit_sigmas, nullptr), by_default);
    // Guidance changes nothing without an embedding.
    o.guidance = 9.0f;
    EXPECT_EQ(generate(o, nullptr), by_default);
    svdq_flux_destroy(schnell);
    fs::remove_all(dir);
}

// flux-tiny embeds guidance and has no scheduler config: FLUX.1-dev's
// dynamic shift, mu = 0.5 + (S_img - 256) (1.15 - 0.5) / (4096 - 256) on
// the line extrapolated to 12 tokens, sigma' = e^mu / (e^mu + (1/sigma - 1)).
TEST_F(CApiGeneration, TheDefaultScheduleIsFluxDevsDynamicShift) {
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    in.noise = noise_.t;
    svdq_generation_options o;
    svdq_generation_options_init(&o);
    o.width = kWidth;
    o.height = kHeight;
    o.steps = 4;
    const std::vector<float> by_default = run(o, in);

    const double mu = 0.5 + (static_cast<double>(kTokens) - 256.0) * (1.15 - 0.5) / (4096.0 - 256.0);
    const double e = std::exp(mu);
    std::vector<float> shifted;
    for (double sigma : {1.0, 0.75, 0.5, 0.25}) shifted.push_back(static_cast<float>(e / (e + (1.0 / sigma - 1.0))));
    const std::vector<float> explicit_run = run(options(shifted), in);
    ASSERT_EQ(explicit_run.size(), by_default.size());
    // diffusers rounds each operation to float32; float64 here moves a sigma by an ulp at most.
    for (size_t j = 0; j < by_default.size(); ++j)
        EXPECT_NEAR(by_default[j], explicit_run[j], 1e-5f * (1.0f + std::fabs(explicit_run[j]))) << j;
    // An unshifted run differs: the shift matters.
    EXPECT_NE(run(options({1.0f, 0.75f, 0.5f, 0.25f}), in), by_default);
}

// A named scheduler config decides the schedule instead of the one found beside
// the model (a pipeline whose transformer file lives elsewhere): a fixed shift
// of 3 (use_dynamic_shifting false) gives 3 s / (1 + 2 s), as the scheduler's
// time_shift with shift 3 does, not the default dynamic shift.
TEST_F(CApiGeneration, ANamedSchedulerConfigDecidesTheSchedule) {
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = states_.t;
    in.pooled_projections = pooled_.t;
    in.noise = noise_.t;
    const std::string config = svdq::test::temp_path("scheduler_config.json");
    {
        std::ofstream f(config);
        f << R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0,
                 "use_dynamic_shifting": false})";
    }
    svdq_generation_options o;
    svdq_generation_options_init(&o);
    o.width = kWidth;
    o.height = kHeight;
    o.steps = 4;
    o.scheduler_config = config.c_str();
    const std::vector<float> named = run(o, in);

    std::vector<float> shifted;
    for (double sigma : {1.0, 0.75, 0.5, 0.25}) shifted.push_back(static_cast<float>(3.0 * sigma / (1.0 + 2.0 * sigma)));
    const std::vector<float> explicit_run = run(options(shifted), in);
    ASSERT_EQ(named.size(), explicit_run.size());
    for (size_t j = 0; j < named.size(); ++j)
        EXPECT_NEAR(named[j], explicit_run[j], 1e-5f * (1.0f + std::fabs(explicit_run[j]))) << j;
    o.scheduler_config = nullptr;
    EXPECT_NE(run(o, in), named);  // the default (dynamic shift) is another schedule

    const std::string missing = config + ".missing";
    o.scheduler_config = missing.c_str();
    svdq_flux_generator* g = nullptr;
    EXPECT_EQ(svdq_flux_generator_create(model_, &o, &g), SVDQ_ERROR_IO);
    EXPECT_NE(last_error().find(missing), std::string::npos) << last_error();
    EXPECT_EQ(g, nullptr);
    std::filesystem::remove(config);
}

// _pack_latents: token (r, c) = r * (w/2) + c holds feature ch*4 + dy*2 + dx =
// latents[ch, 2r + dy, 2c + dx]; odd sides and other ranks are refused.
TEST(CApiLatentPacking, PacksAsThePipelinePacks) {
    constexpr int64_t C = 3, H = 4, W = 6;
    const OwnedTensor latents({1, C, H, W}, pattern(C * H * W, 1.0f, 0.2f));
    const std::vector<float> v = latents.values();
    OwnedTensor packed({1, (H / 2) * (W / 2), 4 * C}, std::vector<float>((H / 2) * (W / 2) * 4 * C, 0.0f));
    ASSERT_EQ(svdq_flux_latents_pack(latents.t, packed.t), SVDQ_OK) << last_error();
    const std::vector<float> p = packed.values();
    for (int64_t r = 0; r < H / 2; ++r)
        for (int64_t c = 0; c < W / 2; ++c)
            for (int64_t ch = 0; ch < C; ++ch)
                for (int64_t dy = 0; dy < 2; ++dy)
                    for (int64_t dx = 0; dx < 2; ++dx)
                        EXPECT_EQ(p[(r * (W / 2) + c) * 4 * C + ch * 4 + dy * 2 + dx], v[(ch * H + 2 * r + dy) * W + 2 * c + dx])
                            << r << " " << c << " " << ch << " " << dy << " " << dx;

    const OwnedTensor odd({1, C, H, W - 1}, pattern(C * H * (W - 1), 1.0f, 0.0f));
    EXPECT_EQ(svdq_flux_latents_pack(odd.t, packed.t), SVDQ_ERROR_SHAPE_MISMATCH);
    EXPECT_NE(last_error().find("even"), std::string::npos) << last_error();
    OwnedTensor wrong_out({1, 5, 4 * C}, std::vector<float>(5 * 4 * C, 0.0f));
    EXPECT_NE(svdq_flux_latents_pack(latents.t, wrong_out.t), SVDQ_OK);
    EXPECT_EQ(svdq_flux_latents_pack(nullptr, packed.t), SVDQ_ERROR_INVALID_ARGUMENT);
}

TEST_F(CApiGeneration, BadInputIsNamed) {
    svdq_generation_options o;
    svdq_generation_options_init(&o);
    o.width = kWidth;
    o.height = kHeight;
    svdq_flux_generator* g = nullptr;
    const auto refused = [&](const svdq_generation_options& bad, svdq_status status, const char* needle) {
        EXPECT_EQ(svdq_flux_generator_create(model_, &bad, &g), status);
        EXPECT_NE(last_error().find(needle), std::string::npos) << last_error();
        EXPECT_EQ(g, nullptr);
    };
    svdq_generation_options bad = o;
    bad.sampler = "lms";
    refused(bad, SVDQ_ERROR_INVALID_ARGUMENT, "lms");
    bad = o;
    bad.width = 8;
    refused(bad, SVDQ_ERROR_INVALID_ARGUMENT, "8");
    bad = o;
    bad.steps = 0;
    refused(bad, SVDQ_ERROR_INVALID_ARGUMENT, "steps");
    bad = o;
    bad.cache_threshold = -1.0f;
    refused(bad, SVDQ_ERROR_INVALID_ARGUMENT, "threshold");

    ASSERT_EQ(svdq_flux_generator_create(model_, &o, &g), SVDQ_OK) << last_error();
    OwnedTensor out({1, kTokens, kFeatures}, std::vector<float>(kTokens * kFeatures, 0.0f));
    const OwnedTensor wide_states({1, kText, 48}, pattern(kText * 48, 1.0f, 0.0f));
    const OwnedTensor short_noise({1, kTokens - 1, kFeatures}, pattern((kTokens - 1) * kFeatures, 1.0f, 0.0f));
    svdq_generation_inputs in{};
    in.struct_size = sizeof in;
    in.encoder_hidden_states = wide_states.t;
    in.pooled_projections = pooled_.t;
    EXPECT_EQ(svdq_flux_generator_run(ctx_, g, &in, out.t, nullptr, nullptr, nullptr), SVDQ_ERROR_SHAPE_MISMATCH);
    EXPECT_NE(last_error().find("encoder_hidden_states"), std::string::npos) << last_error();
    in.encoder_hidden_states = states_.t;
    in.noise = short_noise.t;
    EXPECT_EQ(svdq_flux_generator_run(ctx_, g, &in, out.t, nullptr, nullptr, nullptr), SVDQ_ERROR_SHAPE_MISMATCH);
    EXPECT_NE(last_error().find("noise"), std::string::npos) << last_error();
    in.noise = nullptr;
    o.true_cfg = 2.0f;
    svdq_flux_generator* cfg = nullptr;
    ASSERT_EQ(svdq_flux_generator_create(model_, &o, &cfg), SVDQ_OK) << last_error();
    EXPECT_EQ(svdq_flux_generator_run(ctx_, cfg, &in, out.t, nullptr, nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("negative"), std::string::npos) << last_error();
    svdq_flux_generator_destroy(cfg);
    svdq_flux_generator_destroy(g);
}
