// What a set of FLUX LoRAs does to each linear: the checks before any linear
// changes, the update set of one linear (FluxTransformer's run-time LoRAs),
// and the same set merged into float weights (the quantizer's baked LoRAs).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/low_rank_update.h"
#include "models/flux/flux_lora.h"

namespace svdq {

struct FluxSlotShape {
    int64_t in_features = 0, out_features = 0;
};

// Throws svdq::Error naming the LoRA and the slot unless every update of
// `lora` names one of `slots` and fits its shape (SHAPE_MISMATCH), and its
// strength, scales and values are finite (NON_FINITE).
void check_flux_lora(const FluxLora& lora, const std::map<std::string, FluxSlotShape>& slots);

// The low-rank updates `loras` give the linear `slot`: every LoRA's updates
// of it in the order added, scale times strength; LoRAs at strength 0 give none.
std::vector<LowRankUpdate> flux_lora_updates(const std::vector<FluxLora>& loras, const std::string& slot);

// weight [n, k] += sum_i scale_i up_i down_i, each element's sum in float64.
void merge_low_rank_updates(std::vector<float>& weight, int64_t n, int64_t k, const std::vector<LowRankUpdate>& updates);

}  // namespace svdq
