// LoRA files as parsed, before they meet a model: load, describe, list.
#include "api/api_lora.h"

#include <algorithm>
#include <string>

#include "api/api_guard.h"
#include "models/flux/flux_lora.h"

using namespace svdq;

namespace {

size_t index_arg(int32_t index, size_t count, const char* what) {
    require(index >= 0 && static_cast<size_t>(index) < count, SVDQ_ERROR_INVALID_ARGUMENT,
            std::string(what) + " index " + std::to_string(index) + " is outside [0, " + std::to_string(count) + ")");
    return static_cast<size_t>(index);
}

}  // namespace

extern "C" {

SVDQ_API svdq_status svdq_lora_load(const char* path, svdq_lora** out_lora) {
    return guarded(__func__, [&] {
        svdq_lora*& out = deref(out_lora, "out_lora");
        out = nullptr;
        deref(path, "path");
        out = new svdq_lora{read_lora_file(path)};
    });
}

SVDQ_API svdq_status svdq_lora_destroy(svdq_lora* lora) {
    return guarded(__func__, [&] { delete lora; });
}

SVDQ_API svdq_status svdq_lora_get_info(const svdq_lora* lora, svdq_lora_info* out_info) {
    return guarded(__func__, [&] {
        const LoraFile& f = deref(lora, "lora").file;
        svdq_lora_info info{};
        info.key_style = static_cast<int32_t>(f.style);
        info.module_count = static_cast<int32_t>(f.modules.size());
        info.unused_key_count = static_cast<int32_t>(f.unused_keys.size());
        if (!f.modules.empty()) info.min_rank = info.max_rank = static_cast<int32_t>(f.modules.front().rank);
        for (const LoraModule& m : f.modules) {
            info.min_rank = std::min(info.min_rank, static_cast<int32_t>(m.rank));
            info.max_rank = std::max(info.max_rank, static_cast<int32_t>(m.rank));
            info.missing_alpha_count += m.alpha_given ? 0 : 1;
            info.flux_module_count += is_flux_lora_module(m.name, f.style) ? 1 : 0;
        }
        write_versioned(deref(out_info, "out_info"), info, "svdq_lora_info");
    });
}

SVDQ_API svdq_status svdq_lora_get_module(const svdq_lora* lora, int32_t index, svdq_lora_module* out_module) {
    return guarded(__func__, [&] {
        const LoraFile& f = deref(lora, "lora").file;
        const LoraModule& m = f.modules[index_arg(index, f.modules.size(), "module")];
        svdq_lora_module out{};
        out.name = m.name.c_str();
        out.rank = static_cast<int32_t>(m.rank);
        out.alpha = m.alpha;
        out.alpha_given = m.alpha_given ? 1 : 0;
        out.in_features = m.in_features;
        out.out_features = m.out_features;
        out.is_flux_module = is_flux_lora_module(m.name, f.style) ? 1 : 0;
        write_versioned(deref(out_module, "out_module"), out, "svdq_lora_module");
    });
}

SVDQ_API svdq_status svdq_lora_get_unused_key(const svdq_lora* lora, int32_t index, const char** out_key) {
    return guarded(__func__, [&] {
        const LoraFile& f = deref(lora, "lora").file;
        const std::string& key = f.unused_keys[index_arg(index, f.unused_keys.size(), "unused key")];
        deref(out_key, "out_key") = key.c_str();
    });
}

}  // extern "C"
