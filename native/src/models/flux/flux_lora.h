// A LoRA file matched onto the linears of a FLUX.1 transformer of a given
// config: module names of any key style resolved to our linears, fused and
// split projections mapped (q/k/v onto qkv with down stacked and up
// block-diagonal; BFL/kohya fused qkv, linear1 and linear2 split onto the
// linears that hold their rows or columns), shapes checked.
//
// Our linears are named by where they sit in FluxTransformer:
//   transformer_blocks.<i>.{norm1, norm1_context, qkv, qkv_context, out,
//                           out_context, fc1, fc2, context_fc1, context_fc2}
//   single_transformer_blocks.<i>.{norm, qkv, out, fc1, fc2}
//     (out reads the attention columns of proj_out, fc2 the MLP columns)
//   x_embedder, context_embedder, proj_out, norm_out.linear,
//   time_text_embed.{timestep_embedder, text_embedder, guidance_embedder}.{linear_1, linear_2}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/low_rank_update.h"
#include "formats/lora_file.h"
#include "models/flux/flux_config.h"

namespace svdq {

struct FluxLinearSlot {
    std::string name;  // as above
    int64_t in_features = 0, out_features = 0;
};

// Every linear of a FLUX transformer of this config, in model order.
std::vector<FluxLinearSlot> flux_linear_slots(const FluxConfig& config);

struct FluxLoraLayerUpdate {
    std::string layer;     // a FluxLinearSlot name
    LowRankUpdate update;  // scale = alpha / rank (strength not applied)
};

struct FluxLoraMatch {
    std::vector<FluxLoraLayerUpdate> updates;  // one or more per matched module
    int32_t matched_modules = 0;
    std::vector<std::string> unmatched_keys;   // every key of the file that changes nothing
    std::vector<std::string> defaulted_alpha;  // modules whose alpha defaulted to their rank
};

// Errors (svdq::Error): SVDQ_ERROR_SHAPE_MISMATCH names the key, the expected
// and the found shape; SVDQ_ERROR_FORMAT when no module matches (a LoRA for
// another model family, e.g. SD/SDXL unet keys, is named as such).
FluxLoraMatch match_flux_lora(const LoraFile& file, const FluxConfig& config);

// FluxTransformer holds its LoRAs as (match, strength) and gives every linear
// the sum of their updates, strength folded into each update's scale:
//   int32_t add_lora(Context&, FluxLoraMatch, float strength, std::string name);  // returns the id
//   void set_lora_strength(Context&, int32_t id, float strength);
//   void remove_lora(Context&, int32_t id);
//   void clear_loras(Context&);
//   const std::vector<FluxLora>& loras() const;  // in the order added
struct FluxLora {
    int32_t id = 0;
    std::string name;
    float strength = 1.0f;
    FluxLoraMatch match;
};

// Whether a module name (any key style) names a FLUX.1 transformer module,
// whatever the config: what `svdquant lora inspect` reports without a model.
bool is_flux_lora_module(const std::string& name, LoraKeyStyle style);

}  // namespace svdq
