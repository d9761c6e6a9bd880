// The C handle of a loaded FLUX transformer, shared by the forward and the generation entry points.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "models/flux/flux_transformer.h"

struct svdq_flux : svdq::FluxTransformer {
    svdq_flux(svdq::Context& ctx, const std::string& model_path, svdq_linear_scheme scheme, svdq_attention_precision attention)
        : FluxTransformer(ctx, svdq::FluxCheckpoint(model_path), scheme, attention), path(model_path) {}

    std::string path;  // as loaded: a generator looks for the scheduler config beside it
    // LoRA names by id, for svdq_flux_lora_info.name: valid until that LoRA is
    // removed (the model's own list moves its entries as LoRAs come and go).
    std::map<int32_t, std::string> lora_names;
};
