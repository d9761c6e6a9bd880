// AutoencoderKL hyper-parameters, read from a diffusers config.json: FLUX.1's
// VAE (16 latent channels, block_out_channels [128, 256, 512, 512], no
// quant convs, scaling 0.3611 and shift 0.1159) and any other config of that
// class. Missing keys take diffusers' defaults; what this engine does not
// implement (another activation or block type) is refused by name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace svdq {

struct VaeConfig {
    int64_t in_channels = 3;
    int64_t out_channels = 3;
    int64_t latent_channels = 4;
    std::vector<int64_t> block_out_channels{64};
    int64_t layers_per_block = 1;
    int64_t norm_num_groups = 32;
    int64_t sample_size = 32;  // tile size of diffusers' enable_tiling
    bool use_quant_conv = true;
    bool use_post_quant_conv = true;
    bool mid_block_add_attention = true;
    double scaling_factor = 0.18215;
    double shift_factor = 0.0;  // config null: none

    // Image side / latent side: 2^(blocks - 1).
    int64_t downscale() const { return int64_t{1} << (block_out_channels.size() - 1); }
};

// Validates every field (channel counts divisible by norm_num_groups);
// errors (SVDQ_ERROR_FORMAT, or SVDQ_ERROR_UNSUPPORTED for what is not
// implemented) name `what` and the key.
VaeConfig vae_config_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace svdq
