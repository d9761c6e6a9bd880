// The LoRAs svdq_flux_quantize merges, matched onto the model (api_flux_lora.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/context.h"
#include "models/flux/flux_config.h"
#include "models/flux/flux_lora.h"
#include "svdquant.h"

namespace svdq {

// Each svdq_lora_merge matched as svdq_flux_lora_add matches it (warnings
// through the context's logger), named "loras[i]"; errors name the entry.
std::vector<FluxLora> flux_lora_merges(const svdq_context& ctx, const svdq_lora_merge* loras, int32_t count,
                                       const FluxConfig& config);

}  // namespace svdq
