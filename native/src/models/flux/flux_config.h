// FLUX.1 transformer hyper-parameters, read from a diffusers config.json
// (FluxTransformer2DModel): FLUX.1-dev, -schnell and smaller variants.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace svdq {

struct FluxConfig {
    int64_t patch_size = 1;
    int64_t in_channels = 64;
    int64_t out_channels = 64;  // config null: in_channels
    int64_t num_layers = 19;
    int64_t num_single_layers = 38;
    int64_t attention_head_dim = 128;
    int64_t num_attention_heads = 24;
    int64_t joint_attention_dim = 4096;
    int64_t pooled_projection_dim = 768;
    bool guidance_embeds = false;
    std::vector<int64_t> axes_dims_rope{16, 56, 56};

    int64_t inner_dim() const { return attention_head_dim * num_attention_heads; }
    // As diffusers' FluxTransformer2DModel: x_embedder reads in_channels
    // features per image token (latents already packed by the pipeline) and
    // proj_out writes patch_size^2 * out_channels.
    int64_t input_features() const { return in_channels; }
    int64_t output_features() const { return patch_size * patch_size * out_channels; }
};

// Validates every field; errors (SVDQ_ERROR_FORMAT) name `what` and the key.
FluxConfig flux_config_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace svdq
