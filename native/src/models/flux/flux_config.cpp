#include "models/flux/flux_config.h"

#include <numeric>

#include "core/error.h"
#include "models/config_fields.h"

namespace svdq {

FluxConfig flux_config_from_json(const nlohmann::json& j, const std::string& what) {
    require(j.is_object(), SVDQ_ERROR_FORMAT, what + ": expected a JSON object");
    FluxConfig c;
    c.patch_size = config_positive(j, "patch_size", c.patch_size, what);
    c.in_channels = config_positive(j, "in_channels", c.in_channels, what);
    c.out_channels = config_positive(j, "out_channels", c.in_channels, what);
    c.num_layers = config_positive(j, "num_layers", c.num_layers, what);
    c.num_single_layers = config_positive(j, "num_single_layers", c.num_single_layers, what);
    c.attention_head_dim = config_positive(j, "attention_head_dim", c.attention_head_dim, what);
    c.num_attention_heads = config_positive(j, "num_attention_heads", c.num_attention_heads, what);
    c.joint_attention_dim = config_positive(j, "joint_attention_dim", c.joint_attention_dim, what);
    c.pooled_projection_dim = config_positive(j, "pooled_projection_dim", c.pooled_projection_dim, what);
    if (j.contains("guidance_embeds")) {
        require(j["guidance_embeds"].is_boolean(), SVDQ_ERROR_FORMAT, what + ": \"guidance_embeds\" must be true or false");
        c.guidance_embeds = j["guidance_embeds"].get<bool>();
    }
    if (j.contains("axes_dims_rope")) {
        const auto& axes = j["axes_dims_rope"];
        require(axes.is_array() && !axes.empty(), SVDQ_ERROR_FORMAT, what + ": \"axes_dims_rope\" must be a list of even integers");
        c.axes_dims_rope.clear();
        for (const auto& a : axes) {
            require(a.is_number_integer() && a.get<int64_t>() > 0 && a.get<int64_t>() <= kMaxConfigSize && a.get<int64_t>() % 2 == 0,
                    SVDQ_ERROR_FORMAT,
                    what + ": \"axes_dims_rope\" must hold positive even integers up to " + std::to_string(kMaxConfigSize) +
                        ", got " + axes.dump());
            c.axes_dims_rope.push_back(a.get<int64_t>());
        }
    }
    const int64_t rope_dim = std::accumulate(c.axes_dims_rope.begin(), c.axes_dims_rope.end(), int64_t{0});
    require(rope_dim == c.attention_head_dim, SVDQ_ERROR_FORMAT,
            what + ": \"axes_dims_rope\" sums to " + std::to_string(rope_dim) + " but attention_head_dim is " +
                std::to_string(c.attention_head_dim));
    return c;
}

}  // namespace svdq
