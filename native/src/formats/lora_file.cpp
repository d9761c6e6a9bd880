#include "formats/lora_file.h"

#include <algorithm>
#include <array>
#include <map>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/safetensors_file.h"

namespace svdq {

namespace {

enum class Role { down, up, alpha };

struct Suffix {
    std::string_view text;
    Role role;
};

// The key endings of a module's tensors in every published layout: PEFT /
// diffusers (lora_A, lora_B; PEFT's adapter-named ".default."), kohya and
// ComfyUI (lora_down, lora_up) and the alpha beside them.
constexpr std::array<Suffix, 7> kSuffixes{{
    {".lora_A.default.weight", Role::down},
    {".lora_B.default.weight", Role::up},
    {".lora_A.weight", Role::down},
    {".lora_B.weight", Role::up},
    {".lora_down.weight", Role::down},
    {".lora_up.weight", Role::up},
    {".alpha", Role::alpha},
}};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The style a module name is written in. kohya names are one identifier
// (lora_unet_..., lora_transformer_..., lora_te_...); BFL names start with a
// module of Black Forest Labs' Flux class; anything else reads as diffusers.
LoraKeyStyle style_of(std::string_view name) {
    if (starts_with(name, "lora_")) return LoraKeyStyle::kohya;
    if (starts_with(name, "diffusion_model.")) name.remove_prefix(16);
    for (std::string_view bfl : {"double_blocks.", "single_blocks.", "img_in", "txt_in", "time_in.", "vector_in.",
                                 "guidance_in.", "final_layer."})
        if (starts_with(name, bfl)) return LoraKeyStyle::bfl;
    return LoraKeyStyle::diffusers;
}

// A module's tensors as the header lists them.
struct ModuleKeys {
    std::string name;
    const TensorEntry* parts[3] = {nullptr, nullptr, nullptr};  // by Role
};

void require_lora_dtype(const SafeTensorsFile& file, const TensorEntry& t) {
    require(t.dtype == SVDQ_DTYPE_F32 || t.dtype == SVDQ_DTYPE_F16 || t.dtype == SVDQ_DTYPE_BF16, SVDQ_ERROR_DTYPE,
            file.describe(t) + " is " + dtype_name(t.dtype) + "; LoRA tensors are F32, F16 or BF16");
}

// The matrix of a down or up key as [rows, cols]. A conv LoRA (SD UNets) is
// accepted as the matrix it multiplies: down [r, in, kh, kw] reads in * kh * kw
// features, up must be [out, r, 1, 1].
std::array<int64_t, 2> matrix_shape(const SafeTensorsFile& file, const TensorEntry& t, Role role) {
    const auto& s = t.shape;
    const bool conv = s.size() == 4 && (role == Role::down || (s[2] == 1 && s[3] == 1));
    require(s.size() == 2 || conv, SVDQ_ERROR_SHAPE_MISMATCH,
            file.describe(t) + " has shape " + t.shape_string() + "; a LoRA " + (role == Role::down ? "down" : "up") +
                " matrix is 2-D" + (role == Role::down ? " (or a conv kernel [r, in, kh, kw])" : " (or [out, r, 1, 1])"));
    const std::array<int64_t, 2> m{s[0], conv ? s[1] * s[2] * s[3] : s[1]};
    require(m[0] > 0 && m[1] > 0, SVDQ_ERROR_SHAPE_MISMATCH, file.describe(t) + " has shape " + t.shape_string() + ": empty");
    return m;
}

LoraModule read_module(const SafeTensorsFile& file, const ModuleKeys& keys) {
    const TensorEntry* down = keys.parts[static_cast<int>(Role::down)];
    const TensorEntry* up = keys.parts[static_cast<int>(Role::up)];
    const TensorEntry* alpha = keys.parts[static_cast<int>(Role::alpha)];
    const TensorEntry& present = down != nullptr ? *down : *up;
    require(down != nullptr && up != nullptr, SVDQ_ERROR_FORMAT,
            file.describe(present) + " has no " + (down == nullptr ? "down (lora_A / lora_down)" : "up (lora_B / lora_up)") +
                " matrix beside it: module '" + keys.name + "' is half a LoRA pair");
    require_lora_dtype(file, *down);
    require_lora_dtype(file, *up);
    const auto d = matrix_shape(file, *down, Role::down), u = matrix_shape(file, *up, Role::up);
    require(d[0] == u[1], SVDQ_ERROR_SHAPE_MISMATCH,
            file.describe(*up) + " has shape " + up->shape_string() + ", rank " + std::to_string(u[1]) + ", but '" +
                down->name + "' has shape " + down->shape_string() + ", rank " + std::to_string(d[0]));

    LoraModule m;
    m.name = keys.name;
    m.rank = d[0];
    m.in_features = d[1];
    m.out_features = u[0];
    m.down = file.read_f32(*down);
    m.up = file.read_f32(*up);
    m.down_key = down->name;
    m.up_key = up->name;
    m.alpha = static_cast<float>(m.rank);
    if (alpha != nullptr) {
        require_lora_dtype(file, *alpha);
        require(alpha->numel == 1, SVDQ_ERROR_SHAPE_MISMATCH,
                file.describe(*alpha) + " has shape " + alpha->shape_string() + "; alpha is one number");
        m.alpha = file.read_f32(*alpha)[0];
        m.alpha_given = true;
        m.alpha_key = alpha->name;
    }
    return m;
}

}  // namespace

LoraFile read_lora_file(const std::string& path) {
    const SafeTensorsFile file(path);
    LoraFile lora;
    std::vector<ModuleKeys> modules;  // in the order of their first key
    std::map<std::string, size_t, std::less<>> module_of;
    for (const TensorEntry& t : file.tensors()) {
        const std::string_view key = t.name;
        const Suffix* suffix = nullptr;
        for (const Suffix& s : kSuffixes)
            if (key.size() > s.text.size() && key.substr(key.size() - s.text.size()) == s.text) {
                suffix = &s;
                break;
            }
        if (suffix == nullptr) {
            lora.unused_keys.push_back(t.name);
            continue;
        }
        const std::string name(key.substr(0, key.size() - suffix->text.size()));
        const auto [it, added] = module_of.try_emplace(name, modules.size());
        if (added) modules.push_back({name, {}});
        const TensorEntry*& slot = modules[it->second].parts[static_cast<int>(suffix->role)];
        require(slot == nullptr, SVDQ_ERROR_FORMAT,
                file.describe(t) + " and '" + (slot ? slot->name : "") + "' are the same part of module '" + name + "'");
        slot = &t;
    }

    std::array<size_t, 3> votes{};
    for (const ModuleKeys& keys : modules) {
        if (keys.parts[static_cast<int>(Role::down)] == nullptr && keys.parts[static_cast<int>(Role::up)] == nullptr) {
            lora.unused_keys.push_back(keys.parts[static_cast<int>(Role::alpha)]->name);  // an alpha of no matrices
            continue;
        }
        lora.modules.push_back(read_module(file, keys));
        ++votes[static_cast<size_t>(style_of(keys.name))];
    }
    require(!lora.modules.empty(), SVDQ_ERROR_FORMAT,
            path + ": no LoRA keys (none of its " + std::to_string(file.tensors().size()) +
                " tensors ends in .lora_A.weight / .lora_B.weight or .lora_down.weight / .lora_up.weight)");
    std::sort(lora.unused_keys.begin(), lora.unused_keys.end());  // file (name) order
    // The style most modules follow; a tie goes to the lower enum value.
    size_t best = 0;
    for (size_t s = 1; s < votes.size(); ++s)
        if (votes[s] > votes[best]) best = s;
    lora.style = static_cast<LoraKeyStyle>(best);
    return lora;
}

}  // namespace svdq
