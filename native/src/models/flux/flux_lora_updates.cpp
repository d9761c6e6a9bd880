#include "models/flux/flux_lora_updates.h"

#include <cmath>

#include "core/error.h"

namespace svdq {

void check_flux_lora(const FluxLora& lora, const std::map<std::string, FluxSlotShape>& slots) {
    const std::string who = "LoRA '" + lora.name + "'";
    require(std::isfinite(lora.strength), SVDQ_ERROR_NON_FINITE, who + " has a non-finite strength (" + value_text(lora.strength) + ")");
    for (const FluxLoraLayerUpdate& u : lora.match.updates) {
        const auto slot = slots.find(u.layer);
        require(slot != slots.end(), SVDQ_ERROR_SHAPE_MISMATCH, who + " changes '" + u.layer + "', which this model does not have");
        const FluxSlotShape& shape = slot->second;
        const LowRankUpdate& d = u.update;
        require(d.rank >= 1 && d.down.size() == static_cast<size_t>(d.rank * shape.in_features) &&
                    d.up.size() == static_cast<size_t>(shape.out_features * d.rank),
                SVDQ_ERROR_SHAPE_MISMATCH,
                who + " on '" + u.layer + "': rank " + std::to_string(d.rank) + " with " + std::to_string(d.down.size()) +
                    " down and " + std::to_string(d.up.size()) + " up values does not fit the linear [" +
                    std::to_string(shape.out_features) + ", " + std::to_string(shape.in_features) + "]");
        require(std::isfinite(d.scale), SVDQ_ERROR_NON_FINITE, who + " on '" + u.layer + "' has a non-finite scale");
        for (const std::vector<float>* values : {&d.down, &d.up})
            for (const float v : *values)
                require(std::isfinite(v), SVDQ_ERROR_NON_FINITE,
                        who + " on '" + u.layer + "' holds a non-finite value (" + value_text(v) + ")");
    }
}

std::vector<LowRankUpdate> flux_lora_updates(const std::vector<FluxLora>& loras, const std::string& slot) {
    std::vector<LowRankUpdate> out;
    for (const FluxLora& lora : loras) {
        if (lora.strength == 0.0f) continue;
        for (const FluxLoraLayerUpdate& u : lora.match.updates)
            if (u.layer == slot) {
                out.push_back(u.update);
                out.back().scale *= lora.strength;
            }
    }
    return out;
}

void merge_low_rank_updates(std::vector<float>& weight, int64_t n, int64_t k, const std::vector<LowRankUpdate>& updates) {
    for (int64_t o = 0; o < n; ++o)
        for (int64_t j = 0; j < k; ++j) {
            double sum = 0.0;
            for (const LowRankUpdate& u : updates)
                for (int64_t q = 0; q < u.rank; ++q)
                    sum += static_cast<double>(u.scale) * u.up[static_cast<size_t>(o * u.rank + q)] *
                           u.down[static_cast<size_t>(q * k + j)];
            float& w = weight[static_cast<size_t>(o * k + j)];
            w = static_cast<float>(w + sum);
        }
}

}  // namespace svdq
