// Latents from a FLUX transformer as diffusers' FluxPipeline makes them (and
// its image-to-image and inpainting variants): seeded noise packed into image
// tokens, the flow-matching schedule, a sampler integrating the transformer's
// velocity with embedded guidance, optional true classifier-free guidance
// (two passes per step: v = v_neg + S (v_pos - v_neg)) and the first-block
// cache. Batch 1; the text-encoder outputs come from the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/flux/flux_transformer.h"
#include "sampling/flow_schedule.h"
#include "sampling/flux_latents.h"
#include "sampling/sampler.h"
#include "sampling/scheduler_config.h"

namespace svdq {

class Context;

// One prompt's text-encoder outputs.
struct FluxConditioning {
    std::vector<float> encoder_hidden_states;  // [text_tokens, joint_attention_dim]
    std::vector<float> pooled_projections;     // [pooled_projection_dim]
    int64_t text_tokens = 0;
};

struct FluxGenerationRequest {
    int64_t width = 1024, height = 1024;  // pixels, rounded down to multiples of 16
    ScheduleOptions schedule;             // steps, own sigmas, shift override, image-to-image strength
    std::string sampler = "euler";        // make_sampler's names
    SamplerOptions sampler_options;       // seed (also of the initial noise), eta and s_noise of euler_a
    float guidance = 3.5f;                // embedded guidance; ignored by models without guidance_embeds
    float true_cfg = 1.0f;                // > 1 with `negative`: true classifier-free guidance
    float cache_threshold = 0.0f;         // first-block cache (0: off, bit-identical)
    FluxConditioning positive;
    std::optional<FluxConditioning> negative;
    std::vector<float> noise;         // packed [S_img, in_channels]; empty: GaussianNoise(seed, kInitialNoiseStream)
    std::vector<float> init_latents;  // packed; image-to-image: the run starts from scale_noise(init, sigma0, noise)
    std::vector<float> mask;          // packed, 1 repaints; inpainting (needs init_latents)
};

struct FluxGenerationStep {
    int step = 0, total = 0;  // 1-based step just done, of total
    float sigma = 0.0f;       // the sigma it arrived at
    double elapsed_seconds = 0.0;
};

// Called after each step; returning false cancels (SVDQ_ERROR_CANCELLED).
using FluxGenerationProgress = std::function<bool(const FluxGenerationStep&)>;

struct FluxGenerationResult {
    FluxLatentShape shape;
    std::vector<float> latents;  // packed [S_img, in_channels], the final latents before unpacking
    int steps = 0;
    int64_t evaluations = 0;  // transformer forwards
    int64_t cached = 0;       // of them, how many the first-block cache cut short
    bool guidance_ignored = false;  // the model has no guidance embedding
};

// The scheduler settings of the model at `model_path` (a diffusers
// transformer folder or a single file): scheduler/scheduler_config.json in
// that folder or beside it (a pipeline folder's transformer/ and
// scheduler/), else the defaults for the model (dynamic shifting with a
// guidance embedding, none without).
SchedulerConfig find_scheduler_config(const std::string& model_path, const FluxConfig& config);
// The scheduler config at `path` (SVDQ_ERROR_IO naming it when it is missing).
SchedulerConfig read_scheduler_config(const std::string& path);

// The packed latent shape the model makes at this size (errors name the size).
FluxLatentShape flux_generation_shape(const FluxConfig& config, int64_t width, int64_t height);

// Every input checked first (sizes, shapes, finite values, sampler name),
// naming the one that is wrong, before any work.
FluxGenerationResult generate_flux(Context& ctx, const FluxTransformer& model, const SchedulerConfig& scheduler,
                                   const FluxGenerationRequest& request, const FluxGenerationProgress& progress = {});

}  // namespace svdq
