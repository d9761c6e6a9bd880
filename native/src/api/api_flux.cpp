#include "api/api_flux.h"
#include "api/api_flux_lora.h"
#include "api/api_guard.h"
#include "api/quantize_options.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_model.h"
#include "models/flux/flux_quantizer.h"
#include "models/flux/flux_transformer.h"

using namespace svdq;

namespace {

constexpr int64_t kSyntheticCalibrationSamples = 4;
constexpr uint64_t kSyntheticCalibrationSeed = 2024;

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_flux_load_options_init(svdq_flux_load_options* options) {
    return guarded(__func__, [&] {
        svdq_flux_load_options& o = deref(options, "options");
        o = svdq_flux_load_options{};
        o.struct_size = sizeof(svdq_flux_load_options);
        o.scheme = SVDQ_SCHEME_FLOAT;
        o.attention_precision = SVDQ_ATTENTION_AUTO;
    });
}

SVDQ_API svdq_status svdq_flux_load(svdq_context* context, const char* path, const svdq_flux_load_options* options,
                                    svdq_flux** out_model) {
    return guarded(__func__, [&] {
        svdq_flux*& out = deref(out_model, "out_model");
        out = nullptr;
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        deref(path, "path");
        svdq_flux_load_options o;
        svdq_flux_load_options_init(&o);
        if (options != nullptr) {
            o = read_versioned(*options, o, "svdq_flux_load_options");
        }
        const svdq_linear_scheme scheme = scheme_value(o.scheme, "scheme");
        require(o.attention_precision >= SVDQ_ATTENTION_AUTO && o.attention_precision <= SVDQ_ATTENTION_BF16,
                SVDQ_ERROR_INVALID_ARGUMENT,
                "attention_precision " + std::to_string(o.attention_precision) + " is not a svdq_attention_precision value");
        out = new svdq_flux(ctx, path, scheme, static_cast<svdq_attention_precision>(o.attention_precision));
    });
}

SVDQ_API svdq_status svdq_flux_destroy(svdq_flux* model) {
    return guarded(__func__, [&] { delete model; });
}

SVDQ_API svdq_status svdq_flux_get_info(const svdq_flux* model, svdq_flux_info* out_info) {
    return guarded(__func__, [&] {
        const svdq_flux& m = deref(model, "model");
        svdq_flux_info info{};
        const FluxConfig& c = m.config();
        info.scheme = m.block_scheme();
        info.format = m.block_format();
        info.attention_precision = static_cast<int32_t>(m.attention_precision());
        info.num_layers = static_cast<int32_t>(c.num_layers);
        info.num_single_layers = static_cast<int32_t>(c.num_single_layers);
        info.num_attention_heads = static_cast<int32_t>(c.num_attention_heads);
        info.attention_head_dim = static_cast<int32_t>(c.attention_head_dim);
        info.in_channels = static_cast<int32_t>(c.in_channels);
        info.out_channels = static_cast<int32_t>(c.out_channels);
        info.patch_size = static_cast<int32_t>(c.patch_size);
        info.joint_attention_dim = static_cast<int32_t>(c.joint_attention_dim);
        info.pooled_projection_dim = static_cast<int32_t>(c.pooled_projection_dim);
        info.guidance_embeds = c.guidance_embeds;
        info.parameter_count = m.parameter_count();
        info.weight_bytes = m.weight_bytes();
        write_versioned(deref(out_info, "out_info"), info, "svdq_flux_info");
    });
}

SVDQ_API svdq_status svdq_flux_forward(svdq_context* context, const svdq_flux* model, const svdq_flux_inputs* inputs,
                                       svdq_tensor* out) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        const svdq_flux& m = deref(model, "model");
        const svdq_flux_inputs in = read_versioned(deref(inputs, "inputs"), svdq_flux_inputs{}, "svdq_flux_inputs");
        const FluxInputs f = flux_inputs(m.config(), {{"hidden_states", in.hidden_states},
                                                      {"encoder_hidden_states", in.encoder_hidden_states},
                                                      {"pooled_projections", in.pooled_projections},
                                                      {"timestep", in.timestep},
                                                      {"guidance", in.guidance},
                                                      {"img_ids", in.img_ids},
                                                      {"txt_ids", in.txt_ids}});
        m.forward(ctx, f, output_tensor(out, flux_output_shape(m.config(), f)));
    });
}

SVDQ_API svdq_status svdq_flux_quantize(svdq_context* context, const char* model_path, const char* calibration_path,
                                        const char* output_path, const svdq_quantize_options* options,
                                        const svdq_lora_merge* loras, int32_t lora_count,
                                        svdq_quantize_progress_fn progress, void* user_data) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        deref(model_path, "model_path");
        deref(output_path, "output_path");
        require(lora_count >= 0, SVDQ_ERROR_INVALID_ARGUMENT, "lora_count is " + std::to_string(lora_count) + ", not >= 0");
        require(lora_count == 0 || loras != nullptr, SVDQ_ERROR_INVALID_ARGUMENT,
                "loras is NULL but lora_count is " + std::to_string(lora_count));
        svdq_quantize_options o;
        svdq_quantize_options_init(&o);
        if (options != nullptr) {
            o = read_versioned(*options, o, "svdq_quantize_options");
        }
        const QuantizerOptions q = options_of(o);
        const FluxCheckpoint checkpoint(model_path);
        const std::vector<FluxLora> merges = flux_lora_merges(ctx, loras, lora_count, checkpoint.config());
        const FluxInputSet calibration =
            calibration_path != nullptr
                ? read_flux_inputs(SafeTensorsFile(calibration_path), checkpoint.config())
                : synthetic_flux_inputs(checkpoint.config(), kSyntheticCalibrationSamples, kSyntheticCalibrationSeed);
        FluxQuantizeProgress on_step;
        if (progress != nullptr)
            on_step = [&](const FluxQuantizeStep& step) {
                svdq_quantize_progress p{};
                p.struct_size = sizeof(svdq_quantize_progress);
                p.layer = step.layer.c_str();
                p.done = step.done;
                p.total = step.total;
                p.calibration_error = step.calibration_error;
                return progress(user_data, &p) == 0;
            };
        quantize_flux(ctx, checkpoint, {calibration.view()}, q, output_path, on_step, merges);
    });
}

}  // extern "C"
