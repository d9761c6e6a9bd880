#include "pipelines/flux_generation.h"

#include <chrono>
#include <filesystem>
#include <cmath>
#include <memory>
#include <string>

#include "backend/context.h"
#include "core/error.h"
#include "formats/json_text.h"
#include "models/flux/flux_block_cache.h"
#include "sampling/noise.h"

namespace svdq {

namespace {

void require_finite_values(const std::vector<float>& v, const std::string& what) {
    for (size_t i = 0; i < v.size(); ++i)
        require(std::isfinite(v[i]), SVDQ_ERROR_NON_FINITE, what + "[" + std::to_string(i) + "] is not finite");
}

void check_conditioning(const FluxConditioning& c, const FluxConfig& config, const std::string& what) {
    require(c.text_tokens >= 1 && c.text_tokens <= 65536, SVDQ_ERROR_SHAPE_MISMATCH,
            what + " has " + std::to_string(c.text_tokens) + " text tokens; 1..65536 are accepted");
    require(c.encoder_hidden_states.size() == static_cast<size_t>(c.text_tokens * config.joint_attention_dim),
            SVDQ_ERROR_SHAPE_MISMATCH,
            what + " encoder_hidden_states must be [1, " + std::to_string(c.text_tokens) + ", " +
                std::to_string(config.joint_attention_dim) + "] for this model (joint_attention_dim " +
                std::to_string(config.joint_attention_dim) + ")");
    require(c.pooled_projections.size() == static_cast<size_t>(config.pooled_projection_dim), SVDQ_ERROR_SHAPE_MISMATCH,
            what + " pooled_projections must be [1, " + std::to_string(config.pooled_projection_dim) +
                "] for this model, got " + std::to_string(c.pooled_projections.size()) + " values");
    require_finite_values(c.encoder_hidden_states, what + " encoder_hidden_states");
    require_finite_values(c.pooled_projections, what + " pooled_projections");
}

void check_latents(const std::vector<float>& v, const FluxLatentShape& shape, const std::string& what) {
    require(v.size() == static_cast<size_t>(shape.numel()), SVDQ_ERROR_SHAPE_MISMATCH,
            what + " must be [1, " + std::to_string(shape.tokens()) + ", " + std::to_string(shape.token_features()) +
                "] (the packed latents of " + std::to_string(shape.pixel_width()) + "x" +
                std::to_string(shape.pixel_height()) + "), got " + std::to_string(v.size()) + " values");
    require_finite_values(v, what);
}

// One conditioning's forward inputs around the latents; the first-block
// cache is per conditioning, since true CFG alternates two of them.
struct Pass {
    const FluxConditioning& c;
    std::vector<float> txt_ids;
    FluxBlockCache cache;
};

}  // namespace

SchedulerConfig find_scheduler_config(const std::string& model_path, const FluxConfig& config) {
    namespace fs = std::filesystem;
    const fs::path model = fs::absolute(fs::path(model_path));
    std::vector<fs::path> candidates;
    if (fs::is_directory(model)) {
        candidates.push_back(model / "scheduler" / "scheduler_config.json");
        candidates.push_back(model.parent_path() / "scheduler" / "scheduler_config.json");  // <pipeline>/transformer
    } else {
        candidates.push_back(model.parent_path() / "scheduler" / "scheduler_config.json");
    }
    for (const fs::path& candidate : candidates)
        if (fs::is_regular_file(candidate)) return read_scheduler_config(candidate.string());
    return default_scheduler_config(config.guidance_embeds);
}

SchedulerConfig read_scheduler_config(const std::string& path) {
    return scheduler_config_from_json(read_json_file(path), path);
}

FluxLatentShape flux_generation_shape(const FluxConfig& config, int64_t width, int64_t height) {
    require(config.in_channels % 4 == 0, SVDQ_ERROR_UNSUPPORTED,
            "in_channels " + std::to_string(config.in_channels) + " is not 4 x latent channels: not a 2x2-packing FLUX model");
    return flux_latent_shape(width, height, config.in_channels / 4);
}

FluxGenerationResult generate_flux(Context& ctx, const FluxTransformer& model, const SchedulerConfig& scheduler,
                                   const FluxGenerationRequest& r, const FluxGenerationProgress& progress) {
    const FluxConfig& config = model.config();
    FluxGenerationResult result;
    result.shape = flux_generation_shape(config, r.width, r.height);
    const FluxLatentShape& shape = result.shape;
    const std::unique_ptr<Sampler> sampler = make_sampler(r.sampler, r.sampler_options);
    const FlowSchedule schedule = make_flow_schedule(scheduler, shape.tokens(), r.schedule);
    require(std::isfinite(r.guidance), SVDQ_ERROR_INVALID_ARGUMENT, "guidance " + std::to_string(r.guidance) + " is not finite");
    require(std::isfinite(r.true_cfg) && r.true_cfg >= 1.0f, SVDQ_ERROR_INVALID_ARGUMENT,
            "true CFG scale " + std::to_string(r.true_cfg) + " must be >= 1 (1: off)");
    require(r.true_cfg == 1.0f || r.negative, SVDQ_ERROR_INVALID_ARGUMENT,
            "true CFG scale " + std::to_string(r.true_cfg) + " needs a negative conditioning");
    check_conditioning(r.positive, config, "the conditioning's");
    if (r.negative) check_conditioning(*r.negative, config, "the negative conditioning's");
    if (!r.noise.empty()) check_latents(r.noise, shape, "noise");
    if (!r.init_latents.empty()) check_latents(r.init_latents, shape, "init_latents");
    // A strength that cuts every step returns the start: only an image-to-image start means anything then.
    require(!r.init_latents.empty() || schedule.sigmas.size() > 1, SVDQ_ERROR_INVALID_ARGUMENT,
            "strength " + std::to_string(r.schedule.strength) + " runs no step; it needs init_latents");
    if (!r.mask.empty()) {
        require(!r.init_latents.empty(), SVDQ_ERROR_INVALID_ARGUMENT, "an inpainting mask needs init_latents");
        check_latents(r.mask, shape, "mask");
    }

    // Noise, then the start: pure noise, or the image-to-image mix at the first sigma.
    const std::vector<float> noise =
        r.noise.empty() ? GaussianNoise(r.sampler_options.seed, kInitialNoiseStream).generate(static_cast<size_t>(shape.numel())) : r.noise;
    std::vector<float> x = noise;
    if (!r.init_latents.empty()) scale_noise(r.init_latents.data(), noise.data(), schedule.sigmas.front(), x.data(), x.size());

    const std::vector<float> img_ids = flux_image_ids(shape);
    const bool cfg = r.negative && r.true_cfg > 1.0f;
    std::vector<Pass> passes;
    passes.reserve(2);
    passes.push_back({r.positive, flux_text_ids(r.positive.text_tokens), FluxBlockCache(r.cache_threshold)});
    if (cfg) passes.push_back({*r.negative, flux_text_ids(r.negative->text_tokens), FluxBlockCache(r.cache_threshold)});
    result.guidance_ignored = !config.guidance_embeds;
    const float guidance = r.guidance;
    std::vector<float> v_negative;

    const auto run_pass = [&](Pass& p, const std::vector<float>& latents, float sigma, std::vector<float>& v) {
        FluxInputs in;
        in.batch = 1;
        in.img_tokens = shape.tokens();
        in.txt_tokens = p.c.text_tokens;
        in.hidden_states = latents.data();
        in.encoder_hidden_states = p.c.encoder_hidden_states.data();
        in.pooled_projections = p.c.pooled_projections.data();
        in.timestep = &sigma;
        in.guidance = config.guidance_embeds ? &guidance : nullptr;
        in.img_ids = img_ids.data();
        in.txt_ids = p.txt_ids.data();
        v.resize(latents.size());
        model.forward(ctx, in, v.data(), {}, {}, &p.cache);
        ++result.evaluations;
    };
    const VelocityFn velocity = [&](const std::vector<float>& latents, float sigma, std::vector<float>& v) {
        run_pass(passes[0], latents, sigma, v);
        if (!cfg) return;
        run_pass(passes[1], latents, sigma, v_negative);
        for (size_t i = 0; i < v.size(); ++i) v[i] = v_negative[i] + r.true_cfg * (v[i] - v_negative[i]);
    };
    const auto start = std::chrono::steady_clock::now();
    const StepHook on_step = [&](const SamplerStep& step, std::vector<float>& latents) {
        if (!r.mask.empty()) inpaint_blend(latents, r.init_latents, noise, r.mask, step.sigma_next);
        if (!progress) return true;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return progress({step.index + 1, step.total, step.sigma_next, elapsed});
    };
    if (schedule.steps() > 0) sampler->run(x, schedule.sigmas, velocity, on_step);

    result.steps = schedule.steps();
    for (const Pass& p : passes) result.cached += p.cache.skipped_steps();
    result.latents = std::move(x);
    return result;
}

}  // namespace svdq
