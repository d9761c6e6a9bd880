#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "api/api_flux.h"
#include "api/api_guard.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "models/flux/flux_block_cache.h"
#include "pipelines/flux_generation.h"
#include "sampling/flux_latents.h"
#include "sampling/latent_preview.h"

using namespace svdq;

struct svdq_flux_generator {
    const svdq_flux& model;
    FluxGenerationRequest request;  // the options; a run fills in its inputs
    SchedulerConfig scheduler;
    FluxLatentShape shape;
};

namespace {

// An F32 tensor's values; `shape` entries < 0 take any size.
std::vector<float> values_of(const svdq_tensor* t, const char* name, std::vector<int64_t> shape) {
    const Tensor& tensor = deref(t, name);
    require(tensor.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, std::string(name) + " must be F32, not " + dtype_name(tensor.dtype()));
    require(tensor.ndim() == static_cast<int32_t>(shape.size()), SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(name) + " is " + tensor.shape_string() + ", it must have " + std::to_string(shape.size()) + " dimensions");
    for (size_t i = 0; i < shape.size(); ++i)
        if (shape[i] < 0) shape[i] = tensor.dim(static_cast<int32_t>(i));
    require_shape(tensor, shape, name);
    return std::vector<float>(tensor.f32(), tensor.f32() + tensor.numel());
}

FluxConditioning conditioning(const svdq_tensor* states, const svdq_tensor* pooled, const FluxConfig& c, const char* states_name,
                              const char* pooled_name) {
    FluxConditioning out;
    out.encoder_hidden_states = values_of(states, states_name, {1, -1, c.joint_attention_dim});
    out.text_tokens = static_cast<int64_t>(out.encoder_hidden_states.size()) / c.joint_attention_dim;
    out.pooled_projections = values_of(pooled, pooled_name, {1, c.pooled_projection_dim});
    return out;
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_generation_options_init(svdq_generation_options* options) {
    return guarded(__func__, [&] {
        svdq_generation_options& o = deref(options, "options");
        o = svdq_generation_options{};
        o.struct_size = sizeof(svdq_generation_options);
        o.width = 1024;
        o.height = 1024;
        o.steps = 28;
        o.guidance = 3.5f;
        o.true_cfg = 1.0f;
        o.strength = 1.0f;
        o.eta = 1.0f;
    });
}

SVDQ_API svdq_status svdq_flux_generator_create(const svdq_flux* model, const svdq_generation_options* options,
                                                svdq_flux_generator** out_generator) {
    return guarded(__func__, [&] {
        svdq_flux_generator*& out = deref(out_generator, "out_generator");
        out = nullptr;
        const svdq_flux& m = deref(model, "model");
        svdq_generation_options defaults;
        svdq_generation_options_init(&defaults);
        const svdq_generation_options o =
            options == nullptr ? defaults : read_versioned(*options, defaults, "svdq_generation_options");
        FluxGenerationRequest r;
        r.width = o.width;
        r.height = o.height;
        r.schedule.steps = o.steps;
        if (o.sigmas != nullptr) {
            require(o.sigma_count >= 1 && o.sigma_count <= 10000, SVDQ_ERROR_INVALID_ARGUMENT,
                    "sigma_count " + std::to_string(o.sigma_count) + " must be 1..10000 with sigmas");
            r.schedule.sigmas.assign(o.sigmas, o.sigmas + o.sigma_count);
        }
        require(std::isfinite(o.shift) && o.shift >= 0.0f, SVDQ_ERROR_INVALID_ARGUMENT,
                "shift " + std::to_string(o.shift) + " must be 0 (the model's schedule) or positive");
        if (o.shift > 0.0f) r.schedule.shift_override = o.shift;
        r.schedule.strength = o.strength;
        r.sampler = o.sampler == nullptr ? "euler" : o.sampler;
        r.sampler_options.seed = o.seed;
        r.sampler_options.eta = o.eta;
        r.guidance = o.guidance;
        r.true_cfg = o.true_cfg;
        r.cache_threshold = o.cache_threshold;
        const FluxLatentShape shape = flux_generation_shape(m.config(), r.width, r.height);
        const SchedulerConfig scheduler = o.scheduler_config == nullptr ? find_scheduler_config(m.path, m.config())
                                                                        : read_scheduler_config(o.scheduler_config);
        // Everything that does not need the inputs is checked now.
        make_sampler(r.sampler, r.sampler_options);
        make_flow_schedule(scheduler, shape.tokens(), r.schedule);
        FluxBlockCache check_threshold(r.cache_threshold);
        out = new svdq_flux_generator{m, std::move(r), scheduler, shape};
    });
}

SVDQ_API svdq_status svdq_flux_generator_destroy(svdq_flux_generator* generator) {
    return guarded(__func__, [&] { delete generator; });
}

SVDQ_API svdq_status svdq_flux_generator_get_latent_shape(const svdq_flux_generator* generator, int64_t out_shape[3]) {
    return guarded(__func__, [&] {
        const svdq_flux_generator& g = deref(generator, "generator");
        deref(out_shape, "out_shape");
        out_shape[0] = 1;
        out_shape[1] = g.shape.tokens();
        out_shape[2] = g.shape.token_features();
    });
}

SVDQ_API svdq_status svdq_flux_generator_run(svdq_context* context, svdq_flux_generator* generator,
                                             const svdq_generation_inputs* inputs, svdq_tensor* out_latents,
                                             svdq_generation_progress_fn progress, void* progress_user,
                                             svdq_generation_report* out_report) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_flux_generator& g = deref(generator, "generator");
        const svdq_generation_inputs in = read_versioned(deref(inputs, "inputs"), svdq_generation_inputs{}, "svdq_generation_inputs");
        if (out_report != nullptr) require_struct_size(out_report->struct_size, sizeof(svdq_generation_report), "svdq_generation_report");
        const FluxConfig& c = g.model.config();
        const std::vector<int64_t> latent_shape{1, g.shape.tokens(), g.shape.token_features()};
        float* out = output_tensor(out_latents, latent_shape);

        FluxGenerationRequest r = g.request;
        r.positive = conditioning(in.encoder_hidden_states, in.pooled_projections, c, "encoder_hidden_states", "pooled_projections");
        require((in.negative_encoder_hidden_states == nullptr) == (in.negative_pooled_projections == nullptr), SVDQ_ERROR_INVALID_ARGUMENT,
                "negative_encoder_hidden_states and negative_pooled_projections go together");
        if (in.negative_encoder_hidden_states != nullptr)
            r.negative = conditioning(in.negative_encoder_hidden_states, in.negative_pooled_projections, c,
                                      "negative_encoder_hidden_states", "negative_pooled_projections");
        if (in.noise != nullptr) r.noise = values_of(in.noise, "noise", latent_shape);
        if (in.init_latents != nullptr) r.init_latents = values_of(in.init_latents, "init_latents", latent_shape);
        if (in.mask != nullptr) r.mask = values_of(in.mask, "mask", latent_shape);

        FluxGenerationProgress on_step;
        if (progress != nullptr)
            on_step = [&](const FluxGenerationStep& s) {
                svdq_generation_step step{};
                step.struct_size = sizeof step;
                step.step = s.step;
                step.total = s.total;
                step.sigma = s.sigma;
                step.elapsed_seconds = s.elapsed_seconds;
                return progress(progress_user, &step) == 0;
            };
        const auto start = std::chrono::steady_clock::now();
        const FluxGenerationResult result = generate_flux(call.context(), g.model, g.scheduler, r, on_step);
        std::copy(result.latents.begin(), result.latents.end(), out);
        if (out_report != nullptr) {
            svdq_generation_report report{};
            report.steps = result.steps;
            report.evaluations = static_cast<int32_t>(result.evaluations);
            report.cached = static_cast<int32_t>(result.cached);
            report.guidance_ignored = result.guidance_ignored ? 1 : 0;
            report.latent_channels = static_cast<int32_t>(result.shape.channels);
            report.latent_height = static_cast<int32_t>(result.shape.height);
            report.latent_width = static_cast<int32_t>(result.shape.width);
            report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            write_versioned(*out_report, report, "svdq_generation_report");
        }
    });
}

SVDQ_API svdq_status svdq_flux_latents_pack(const svdq_tensor* latents, svdq_tensor* out_packed) {
    return guarded(__func__, [&] {
        const Tensor& in = deref(latents, "latents");
        require(in.ndim() == 4 && in.dim(0) == 1, SVDQ_ERROR_SHAPE_MISMATCH,
                "latents is " + in.shape_string() + ", it must be [1, C, h, w]");
        FluxLatentShape shape;
        shape.channels = in.dim(1);
        shape.height = in.dim(2);
        shape.width = in.dim(3);
        require(shape.channels >= 1 && shape.height >= 2 && shape.width >= 2 && shape.height % 2 == 0 && shape.width % 2 == 0,
                SVDQ_ERROR_SHAPE_MISMATCH, "latents is " + in.shape_string() + ": h and w must be even and at least 2");
        const std::vector<float> packed = pack_latents(values_of(latents, "latents", {1, -1, -1, -1}), shape);
        float* out = output_tensor(out_packed, {1, shape.tokens(), shape.token_features()});
        std::copy(packed.begin(), packed.end(), out);
    });
}

SVDQ_API svdq_status svdq_flux_latents_preview(const svdq_tensor* packed_latents, int32_t latent_height,
                                               int32_t latent_width, int32_t upscale, uint8_t* out_rgba,
                                               uint64_t out_bytes) {
    return guarded(__func__, [&] {
        const Tensor& packed = deref(packed_latents, "packed_latents");
        deref(out_rgba, "out_rgba");
        require(packed.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE,
                std::string("packed_latents must be F32, not ") + dtype_name(packed.dtype()));
        require(packed.ndim() == 3 && packed.dim(0) == 1 && packed.dim(2) > 0 && packed.dim(2) % 4 == 0,
                SVDQ_ERROR_SHAPE_MISMATCH,
                "packed_latents is " + packed.shape_string() + ", it must be [1, S_img, 4 * latent channels]");
        FluxLatentShape shape;
        shape.channels = packed.dim(2) / 4;
        shape.height = latent_height;
        shape.width = latent_width;
        if (latent_height > 0 && latent_width > 0)
            require(packed.dim(1) == shape.tokens(), SVDQ_ERROR_SHAPE_MISMATCH,
                    "packed_latents has " + std::to_string(packed.dim(1)) + " tokens, a " + std::to_string(latent_height) +
                        " x " + std::to_string(latent_width) + " latent image has " + std::to_string(shape.tokens()));
        // latent_preview_rgba checks the sides, the channel count and upscale.
        const LatentPreview preview =
            latent_preview_rgba(std::vector<float>(packed.f32(), packed.f32() + packed.numel()), shape, upscale);
        require(out_bytes == preview.rgba.size(), SVDQ_ERROR_SHAPE_MISMATCH,
                "out_bytes is " + std::to_string(out_bytes) + ", a " + std::to_string(preview.width) + " x " +
                    std::to_string(preview.height) + " RGBA8 preview needs " + std::to_string(preview.rgba.size()));
        std::copy(preview.rgba.begin(), preview.rgba.end(), out_rgba);
    });
}

}  // extern "C"
