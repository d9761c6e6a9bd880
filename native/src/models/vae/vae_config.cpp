#include "models/vae/vae_config.h"

#include <cmath>

#include "core/error.h"
#include "models/config_fields.h"

namespace svdq {

namespace {

constexpr size_t kMaxBlocks = 8;

bool flag(const nlohmann::json& j, const char* key, bool fallback, const std::string& what) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    require(j[key].is_boolean(), SVDQ_ERROR_FORMAT, what + ": \"" + key + "\" must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
}

double number(const nlohmann::json& j, const char* key, double fallback, const std::string& what) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    require(j[key].is_number() && std::isfinite(j[key].get<double>()), SVDQ_ERROR_FORMAT,
            what + ": \"" + key + "\" must be a finite number, got " + j[key].dump());
    return j[key].get<double>();
}

// Every entry of a list key must be `expected` (diffusers' block types).
void only(const nlohmann::json& j, const char* key, const char* expected, const std::string& what) {
    if (!j.contains(key) || j[key].is_null()) return;
    require(j[key].is_array(), SVDQ_ERROR_FORMAT, what + ": \"" + key + "\" must be a list");
    for (const auto& v : j[key])
        require(v.is_string() && v.get<std::string>() == expected, SVDQ_ERROR_UNSUPPORTED,
                what + ": \"" + key + "\" holds " + v.dump() + "; only " + expected + " is implemented");
}

}  // namespace

VaeConfig vae_config_from_json(const nlohmann::json& j, const std::string& what) {
    require(j.is_object(), SVDQ_ERROR_FORMAT, what + ": expected a JSON object");
    if (j.contains("_class_name"))
        require(j["_class_name"] == "AutoencoderKL", SVDQ_ERROR_UNSUPPORTED,
                what + ": \"_class_name\" is " + j["_class_name"].dump() + "; only AutoencoderKL is implemented");
    if (j.contains("act_fn") && !j["act_fn"].is_null())
        require(j["act_fn"] == "silu", SVDQ_ERROR_UNSUPPORTED,
                what + ": \"act_fn\" is " + j["act_fn"].dump() + "; only \"silu\" is implemented");
    only(j, "down_block_types", "DownEncoderBlock2D", what);
    only(j, "up_block_types", "UpDecoderBlock2D", what);

    VaeConfig c;
    c.in_channels = config_positive(j, "in_channels", c.in_channels, what);
    c.out_channels = config_positive(j, "out_channels", c.out_channels, what);
    c.latent_channels = config_positive(j, "latent_channels", c.latent_channels, what);
    c.layers_per_block = config_positive(j, "layers_per_block", c.layers_per_block, what);
    c.norm_num_groups = config_positive(j, "norm_num_groups", c.norm_num_groups, what);
    c.use_quant_conv = flag(j, "use_quant_conv", c.use_quant_conv, what);
    c.use_post_quant_conv = flag(j, "use_post_quant_conv", c.use_post_quant_conv, what);
    c.mid_block_add_attention = flag(j, "mid_block_add_attention", c.mid_block_add_attention, what);
    c.scaling_factor = number(j, "scaling_factor", c.scaling_factor, what);
    c.shift_factor = number(j, "shift_factor", c.shift_factor, what);
    require(c.scaling_factor != 0.0, SVDQ_ERROR_FORMAT, what + ": \"scaling_factor\" must not be 0");
    if (j.contains("sample_size") && j["sample_size"].is_array()) {  // diffusers takes the first of a list
        require(!j["sample_size"].empty(), SVDQ_ERROR_FORMAT, what + ": \"sample_size\" is an empty list");
        c.sample_size = config_positive(nlohmann::json{{"sample_size", j["sample_size"][0]}}, "sample_size", c.sample_size, what);
    } else {
        c.sample_size = config_positive(j, "sample_size", c.sample_size, what);
    }
    if (j.contains("block_out_channels") && !j["block_out_channels"].is_null()) {
        const auto& list = j["block_out_channels"];
        require(list.is_array() && !list.empty() && list.size() <= kMaxBlocks, SVDQ_ERROR_FORMAT,
                what + ": \"block_out_channels\" must be a list of 1 to " + std::to_string(kMaxBlocks) + " positive integers");
        c.block_out_channels.clear();
        for (const auto& v : list)
            c.block_out_channels.push_back(config_positive(nlohmann::json{{"block_out_channels", v}}, "block_out_channels", 0, what));
    }
    for (const char* key : {"down_block_types", "up_block_types"})
        if (j.contains(key) && j[key].is_array())
            require(j[key].size() == c.block_out_channels.size(), SVDQ_ERROR_FORMAT,
                    what + ": \"" + key + "\" has " + std::to_string(j[key].size()) + " entries, block_out_channels " +
                        std::to_string(c.block_out_channels.size()));
    for (int64_t channels : c.block_out_channels)
        require(channels % c.norm_num_groups == 0, SVDQ_ERROR_FORMAT,
                what + ": block_out_channels entry " + std::to_string(channels) + " is not a multiple of norm_num_groups " +
                    std::to_string(c.norm_num_groups));
    return c;
}

}  // namespace svdq
