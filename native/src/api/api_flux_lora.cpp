// LoRAs on a loaded FLUX transformer (svdq_flux_lora_*), and the LoRAs
// svdq_flux_quantize merges before quantizing (flux_lora_merges).

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/api_flux.h"
#include "api/api_flux_lora.h"
#include "api/api_guard.h"
#include "api/api_lora.h"
#include "backend/context.h"
#include "models/flux/flux_lora.h"
#include "models/flux/flux_transformer.h"

using namespace svdq;

namespace {

// The match's warnings through the context's logger: every unmatched key in
// one warning, and the modules whose alpha defaulted to their rank.
void warn_about(const svdq_context& ctx, const FluxLoraMatch& match, const std::string& name) {
    const std::string who = name.empty() ? std::string("LoRA") : "LoRA '" + name + "'";
    if (!match.unmatched_keys.empty() && ctx.logger().enabled(SVDQ_LOG_WARNING)) {
        std::string keys;
        for (const std::string& key : match.unmatched_keys) keys += (keys.empty() ? "" : ", ") + key;
        ctx.logger().log(SVDQ_LOG_WARNING, who + ": " + std::to_string(match.unmatched_keys.size()) +
                                               " keys match nothing in the model and change nothing: " + keys);
    }
    if (!match.defaulted_alpha.empty() && ctx.logger().enabled(SVDQ_LOG_WARNING)) {
        std::string modules;
        for (const std::string& module : match.defaulted_alpha) modules += (modules.empty() ? "" : ", ") + module;
        ctx.logger().log(SVDQ_LOG_WARNING, who + ": no alpha for " + std::to_string(match.defaulted_alpha.size()) +
                                               " modules, alpha = rank used (scale 1): " + modules);
    }
}

const FluxLora& lora_at(const svdq_flux& model, int32_t index) {
    const std::vector<FluxLora>& loras = model.loras();
    require(index >= 0 && static_cast<size_t>(index) < loras.size(), SVDQ_ERROR_INVALID_ARGUMENT,
            "index " + std::to_string(index) + " is outside 0 .. " + std::to_string(static_cast<int64_t>(loras.size()) - 1));
    return loras[static_cast<size_t>(index)];
}

}  // namespace

namespace svdq {

std::vector<FluxLora> flux_lora_merges(const svdq_context& ctx, const svdq_lora_merge* loras, int32_t count,
                                       const FluxConfig& config) {
    std::vector<FluxLora> merges;
    for (int32_t i = 0; i < count; ++i) {
        const std::string name = "loras[" + std::to_string(i) + "]";
        const svdq_lora& lora = deref(loras[i].lora, (name + ".lora").c_str());
        require(std::isfinite(loras[i].strength), SVDQ_ERROR_NON_FINITE, name + ".strength is not finite");
        FluxLoraMatch match = match_flux_lora(lora.file, config);
        warn_about(ctx, match, name);
        merges.push_back({i, name, loras[i].strength, std::move(match)});
    }
    return merges;
}

}  // namespace svdq

extern "C" {

SVDQ_API svdq_status svdq_flux_lora_add(svdq_context* context, svdq_flux* model, const svdq_lora* lora, float strength,
                                        const char* name, int32_t* out_id) {
    return guarded(__func__, [&] {
        int32_t& id = deref(out_id, "out_id");
        const ContextCall call(context);
        svdq_flux& m = deref(model, "model");
        const svdq_lora& l = deref(lora, "lora");
        require(std::isfinite(strength), SVDQ_ERROR_NON_FINITE, "strength is not finite");
        const std::string given = name != nullptr ? name : "";
        const int32_t added = m.add_lora(call.context(), match_flux_lora(l.file, m.config()), strength, given);
        m.lora_names[added] = given;
        warn_about(call.context(), m.loras().back().match, given);
        id = added;
    });
}

SVDQ_API svdq_status svdq_flux_lora_set_strength(svdq_context* context, svdq_flux* model, int32_t id, float strength) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        deref(model, "model").set_lora_strength(call.context(), id, strength);
    });
}

SVDQ_API svdq_status svdq_flux_lora_remove(svdq_context* context, svdq_flux* model, int32_t id) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_flux& m = deref(model, "model");
        m.remove_lora(call.context(), id);
        m.lora_names.erase(id);
    });
}

SVDQ_API svdq_status svdq_flux_lora_clear(svdq_context* context, svdq_flux* model) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_flux& m = deref(model, "model");
        m.clear_loras(call.context());
        m.lora_names.clear();
    });
}

SVDQ_API svdq_status svdq_flux_lora_count(const svdq_flux* model, int32_t* out_count) {
    return guarded(__func__, [&] {
        int32_t& count = deref(out_count, "out_count");
        count = static_cast<int32_t>(deref(model, "model").loras().size());
    });
}

SVDQ_API svdq_status svdq_flux_lora_get_info(const svdq_flux* model, int32_t index, svdq_flux_lora_info* out_info) {
    return guarded(__func__, [&] {
        svdq_flux_lora_info& out = deref(out_info, "out_info");
        const svdq_flux& m = deref(model, "model");
        const FluxLora& lora = lora_at(m, index);
        std::set<std::string> layers;
        for (const FluxLoraLayerUpdate& u : lora.match.updates) layers.insert(u.layer);
        svdq_flux_lora_info info{};
        info.struct_size = sizeof info;
        info.id = lora.id;
        info.name = m.lora_names.at(lora.id).c_str();  // a map node: stays put while other LoRAs come and go
        info.strength = lora.strength;
        info.matched_modules = lora.match.matched_modules;
        info.unmatched_key_count = static_cast<int32_t>(lora.match.unmatched_keys.size());
        info.layer_count = static_cast<int32_t>(layers.size());
        write_versioned(out, info, "svdq_flux_lora_info");
    });
}

SVDQ_API svdq_status svdq_flux_lora_get_unmatched_key(const svdq_flux* model, int32_t index, int32_t key_index,
                                                      const char** out_key) {
    return guarded(__func__, [&] {
        const char*& key = deref(out_key, "out_key");
        const FluxLora& lora = lora_at(deref(model, "model"), index);
        const std::vector<std::string>& keys = lora.match.unmatched_keys;
        require(key_index >= 0 && static_cast<size_t>(key_index) < keys.size(), SVDQ_ERROR_INVALID_ARGUMENT,
                "key_index " + std::to_string(key_index) + " is outside 0 .. " + std::to_string(static_cast<int64_t>(keys.size()) - 1));
        key = keys[static_cast<size_t>(key_index)].c_str();
    });
}

}  // extern "C"
