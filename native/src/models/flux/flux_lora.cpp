#include "models/flux/flux_lora.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "models/flux/flux_blocks.h"

namespace svdq {

namespace {

// diffusers' Timesteps(256): the sinusoid the timestep and guidance embedders read.
constexpr int64_t kTimestepChannels = 256;

// How a LoRA module of the file lands on our linears.
enum class Fit {
    whole,           // one linear, as is
    qkv_part,        // rows part * out / 3 of a fused qkv: q, k and v meet in one update
    rows_qkv_fc1,    // BFL's single-block linear1, rows [q; k; v; mlp]: qkv and fc1
    cols_out_fc2,    // a single block's proj_out / linear2, columns [attention | mlp]: out and fc2
    swapped_halves,  // BFL's final adaLN (shift, scale) onto diffusers' norm_out (scale, shift)
};

struct Leaf {
    const char* name;  // in the file's vocabulary, dotted
    Fit fit;
    const char* slot;  // our linear (the first of two for the split fits)
    int part = 0;      // qkv_part: 0 q, 1 k, 2 v
};

// The module names of a vocabulary: diffusers' FluxTransformer2DModel or BFL's Flux.
struct Vocabulary {
    const char* double_blocks;
    const char* single_blocks;
    std::vector<Leaf> in_double, in_single, top;
};

const Vocabulary& diffusers_names() {
    static const Vocabulary v{
        "transformer_blocks",
        "single_transformer_blocks",
        {
            {"norm1.linear", Fit::whole, "norm1"},
            {"norm1_context.linear", Fit::whole, "norm1_context"},
            {"attn.to_q", Fit::qkv_part, "qkv", 0},
            {"attn.to_k", Fit::qkv_part, "qkv", 1},
            {"attn.to_v", Fit::qkv_part, "qkv", 2},
            {"attn.add_q_proj", Fit::qkv_part, "qkv_context", 0},
            {"attn.add_k_proj", Fit::qkv_part, "qkv_context", 1},
            {"attn.add_v_proj", Fit::qkv_part, "qkv_context", 2},
            {"attn.to_out.0", Fit::whole, "out"},
            {"attn.to_add_out", Fit::whole, "out_context"},
            {"ff.net.0.proj", Fit::whole, "fc1"},
            {"ff.net.2", Fit::whole, "fc2"},
            {"ff_context.net.0.proj", Fit::whole, "context_fc1"},
            {"ff_context.net.2", Fit::whole, "context_fc2"},
        },
        {
            {"norm.linear", Fit::whole, "norm"},
            {"attn.to_q", Fit::qkv_part, "qkv", 0},
            {"attn.to_k", Fit::qkv_part, "qkv", 1},
            {"attn.to_v", Fit::qkv_part, "qkv", 2},
            {"proj_mlp", Fit::whole, "fc1"},
            {"proj_out", Fit::cols_out_fc2, "out"},
        },
        {
            {"x_embedder", Fit::whole, "x_embedder"},
            {"context_embedder", Fit::whole, "context_embedder"},
            {"time_text_embed.timestep_embedder.linear_1", Fit::whole, "time_text_embed.timestep_embedder.linear_1"},
            {"time_text_embed.timestep_embedder.linear_2", Fit::whole, "time_text_embed.timestep_embedder.linear_2"},
            {"time_text_embed.text_embedder.linear_1", Fit::whole, "time_text_embed.text_embedder.linear_1"},
            {"time_text_embed.text_embedder.linear_2", Fit::whole, "time_text_embed.text_embedder.linear_2"},
            {"time_text_embed.guidance_embedder.linear_1", Fit::whole, "time_text_embed.guidance_embedder.linear_1"},
            {"time_text_embed.guidance_embedder.linear_2", Fit::whole, "time_text_embed.guidance_embedder.linear_2"},
            {"norm_out.linear", Fit::whole, "norm_out.linear"},
            {"proj_out", Fit::whole, "proj_out"},
        },
    };
    return v;
}

// As diffusers converts them (convert_flux_to_diffusers.py,
// _convert_kohya_flux_lora_to_diffusers, _convert_bfl_flux_control_lora_to_diffusers).
const Vocabulary& bfl_names() {
    static const Vocabulary v{
        "double_blocks",
        "single_blocks",
        {
            {"img_mod.lin", Fit::whole, "norm1"},
            {"txt_mod.lin", Fit::whole, "norm1_context"},
            {"img_attn.qkv", Fit::whole, "qkv"},
            {"txt_attn.qkv", Fit::whole, "qkv_context"},
            {"img_attn.proj", Fit::whole, "out"},
            {"txt_attn.proj", Fit::whole, "out_context"},
            {"img_mlp.0", Fit::whole, "fc1"},
            {"img_mlp.2", Fit::whole, "fc2"},
            {"txt_mlp.0", Fit::whole, "context_fc1"},
            {"txt_mlp.2", Fit::whole, "context_fc2"},
        },
        {
            {"modulation.lin", Fit::whole, "norm"},
            {"linear1", Fit::rows_qkv_fc1, "qkv"},
            {"linear2", Fit::cols_out_fc2, "out"},
        },
        {
            {"img_in", Fit::whole, "x_embedder"},
            {"txt_in", Fit::whole, "context_embedder"},
            {"time_in.in_layer", Fit::whole, "time_text_embed.timestep_embedder.linear_1"},
            {"time_in.out_layer", Fit::whole, "time_text_embed.timestep_embedder.linear_2"},
            {"vector_in.in_layer", Fit::whole, "time_text_embed.text_embedder.linear_1"},
            {"vector_in.out_layer", Fit::whole, "time_text_embed.text_embedder.linear_2"},
            {"guidance_in.in_layer", Fit::whole, "time_text_embed.guidance_embedder.linear_1"},
            {"guidance_in.out_layer", Fit::whole, "time_text_embed.guidance_embedder.linear_2"},
            {"final_layer.adaLN_modulation.1", Fit::swapped_halves, "norm_out.linear"},
            {"final_layer.linear", Fit::whole, "proj_out"},
        },
    };
    return v;
}

// A module name resolved: which leaf, and the prefix of our linears' names.
struct Resolved {
    const Leaf* leaf = nullptr;
    std::string prefix;  // "transformer_blocks.<i>.", "single_transformer_blocks.<i>." or ""

    std::string slot() const { return prefix + leaf->slot; }
    // The second linear of a split fit.
    std::string second_slot() const { return prefix + (leaf->fit == Fit::rows_qkv_fc1 ? "fc1" : "fc2"); }
};

bool eat(std::string_view& s, std::string_view prefix) {
    if (s.substr(0, prefix.size()) != prefix) return false;
    s.remove_prefix(prefix.size());
    return true;
}

// `s` equals the dotted name with each '.' written as `sep` (kohya joins with '_').
bool same_name(std::string_view s, std::string_view dotted, char sep) {
    if (s.size() != dotted.size()) return false;
    for (size_t i = 0; i < s.size(); ++i)
        if (s[i] != (dotted[i] == '.' ? sep : dotted[i])) return false;
    return true;
}

const Leaf* find_leaf(std::string_view rest, const std::vector<Leaf>& leaves, char sep) {
    for (const Leaf& leaf : leaves)
        if (same_name(rest, leaf.name, sep)) return &leaf;
    return nullptr;
}

// "<blocks><sep><index><sep><leaf>": the block index and the leaf.
std::optional<Resolved> in_block(std::string_view rest, std::string_view blocks, const std::vector<Leaf>& leaves, char sep,
                                 const char* our_blocks) {
    if (!eat(rest, blocks) || !eat(rest, std::string_view(&sep, 1))) return std::nullopt;
    size_t digits = 0;
    while (digits < rest.size() && digits < 6 && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0 || (digits > 1 && rest[0] == '0') || digits == rest.size() || rest[digits] != sep) return std::nullopt;
    const std::string index(rest.substr(0, digits));
    const Leaf* leaf = find_leaf(rest.substr(digits + 1), leaves, sep);
    if (leaf == nullptr) return std::nullopt;
    return Resolved{leaf, std::string(our_blocks) + "." + index + "."};
}

std::optional<Resolved> in_vocabulary(std::string_view rest, const Vocabulary& v, char sep) {
    if (auto r = in_block(rest, v.double_blocks, v.in_double, sep, "transformer_blocks")) return r;
    if (auto r = in_block(rest, v.single_blocks, v.in_single, sep, "single_transformer_blocks")) return r;
    if (const Leaf* leaf = find_leaf(rest, v.top, sep)) return Resolved{leaf, ""};
    return std::nullopt;
}

// The FLUX module a name of `style` names, whatever the model's size.
std::optional<Resolved> resolve(std::string_view name, LoraKeyStyle style) {
    switch (style) {
        case LoraKeyStyle::diffusers:
            eat(name, "base_model.model.");  // PEFT's wrapper
            eat(name, "transformer.");
            return in_vocabulary(name, diffusers_names(), '.');
        case LoraKeyStyle::bfl:
            eat(name, "diffusion_model.");  // ComfyUI
            return in_vocabulary(name, bfl_names(), '.');
        case LoraKeyStyle::kohya:
            // sd-scripts writes BFL's names after lora_unet_, diffusers' after lora_transformer_.
            if (eat(name, "lora_unet_")) return in_vocabulary(name, bfl_names(), '_');
            if (eat(name, "lora_transformer_")) return in_vocabulary(name, diffusers_names(), '_');
            return std::nullopt;
    }
    return std::nullopt;
}

std::string matrix_text(int64_t rows, int64_t cols) { return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]"; }

// The module must be down [r, in] and up [out, r] for `target`.
void require_shape(const LoraModule& m, int64_t in, int64_t out, const std::string& target) {
    require(m.in_features == in, SVDQ_ERROR_SHAPE_MISMATCH,
            "LoRA key '" + m.down_key + "' has shape " + matrix_text(m.rank, m.in_features) + " but " + target +
                " expects " + matrix_text(m.rank, in));
    require(m.out_features == out, SVDQ_ERROR_SHAPE_MISMATCH,
            "LoRA key '" + m.up_key + "' has shape " + matrix_text(m.out_features, m.rank) + " but " + target +
                " expects " + matrix_text(out, m.rank));
}

float scale_of(const LoraModule& m) { return m.alpha / static_cast<float>(m.rank); }

// Rows [begin, begin + count) of up [out, rank].
std::vector<float> up_rows(const LoraModule& m, int64_t begin, int64_t count) {
    return {m.up.begin() + begin * m.rank, m.up.begin() + (begin + count) * m.rank};
}

// Columns [begin, begin + count) of down [rank, in].
std::vector<float> down_columns(const LoraModule& m, int64_t begin, int64_t count) {
    std::vector<float> d(static_cast<size_t>(m.rank * count));
    for (int64_t r = 0; r < m.rank; ++r)
        std::copy_n(m.down.begin() + r * m.in_features + begin, count, d.begin() + r * count);
    return d;
}

// q, k and v LoRAs of one fused linear as one update: down stacked, up
// block-diagonal (zero where a part has no LoRA). When the parts' alpha / rank
// differ, each is folded into its up block and the update's scale is 1.
LowRankUpdate fuse_qkv(const LoraModule* const parts[3], int64_t out) {
    const int64_t part_out = out / 3;
    const LoraModule* first = parts[0] != nullptr ? parts[0] : parts[1] != nullptr ? parts[1] : parts[2];
    int64_t rank = 0;
    bool same_scale = true;
    for (int p = 0; p < 3; ++p)
        if (parts[p] != nullptr) {
            rank += parts[p]->rank;
            same_scale = same_scale && scale_of(*parts[p]) == scale_of(*first);
        }
    LowRankUpdate u;
    u.rank = rank;
    u.scale = same_scale ? scale_of(*first) : 1.0f;
    u.down.reserve(static_cast<size_t>(rank * first->in_features));
    u.up.assign(static_cast<size_t>(out * rank), 0.0f);
    int64_t column = 0;
    for (int p = 0; p < 3; ++p) {
        const LoraModule* m = parts[p];
        if (m == nullptr) continue;
        u.down.insert(u.down.end(), m->down.begin(), m->down.end());
        const float fold = same_scale ? 1.0f : scale_of(*m);
        for (int64_t o = 0; o < part_out; ++o)
            for (int64_t r = 0; r < m->rank; ++r)
                u.up[static_cast<size_t>((p * part_out + o) * rank + column + r)] = fold * m->up[static_cast<size_t>(o * m->rank + r)];
        column += m->rank;
    }
    return u;
}

bool contains_any(const std::string& key, std::initializer_list<const char*> markers) {
    for (const char* marker : markers)
        if (key.find(marker) != std::string::npos) return true;
    return false;
}

// Keys of a Stable Diffusion 1.x/2.x/XL UNet LoRA (kohya, diffusers and original names).
bool names_unet(const std::string& key) {
    return contains_any(key, {"lora_unet_down_blocks_", "lora_unet_up_blocks_", "lora_unet_mid_block_", "lora_unet_input_blocks_",
                              "lora_unet_output_blocks_", "lora_unet_middle_block_", "down_blocks.", "up_blocks.",
                              "mid_block.", "input_blocks.", "output_blocks.", "middle_block."});
}

// Keys of a CLIP / T5 text encoder's LoRA (kohya lora_te*, diffusers text_encoder*).
bool names_text_encoder(const std::string& key) {
    return contains_any(key, {"lora_te_", "lora_te1_", "lora_te2_", "text_encoder", "text_model.", "t5xxl"});
}

std::vector<std::string> keys_of(const LoraModule& m) {
    std::vector<std::string> keys{m.down_key, m.up_key};
    if (!m.alpha_key.empty()) keys.push_back(m.alpha_key);
    return keys;
}

std::string first_keys(const std::vector<std::string>& keys) {
    std::string text;
    for (size_t i = 0; i < keys.size() && i < 3; ++i) text += (i ? ", '" : "'") + keys[i] + "'";
    return text + (keys.size() > 3 ? ", ..." : "");
}

}  // namespace

std::vector<FluxLinearSlot> flux_linear_slots(const FluxConfig& c) {
    const int64_t d = c.inner_dim();
    std::vector<FluxLinearSlot> slots{
        {"time_text_embed.timestep_embedder.linear_1", kTimestepChannels, d},
        {"time_text_embed.timestep_embedder.linear_2", d, d},
        {"time_text_embed.text_embedder.linear_1", c.pooled_projection_dim, d},
        {"time_text_embed.text_embedder.linear_2", d, d},
    };
    if (c.guidance_embeds) {
        slots.push_back({"time_text_embed.guidance_embedder.linear_1", kTimestepChannels, d});
        slots.push_back({"time_text_embed.guidance_embedder.linear_2", d, d});
    }
    slots.push_back({"x_embedder", c.input_features(), d});
    slots.push_back({"context_embedder", c.joint_attention_dim, d});
    // Block linears' sizes come from the blocks' own tables.
    using D = FluxDoubleBlock;
    using S = FluxSingleBlock;
    const std::vector<std::pair<Linear D::*, const char*>> double_names{
        {&D::norm1, "norm1"}, {&D::norm1_context, "norm1_context"}, {&D::qkv, "qkv"}, {&D::qkv_context, "qkv_context"},
        {&D::out, "out"}, {&D::out_context, "out_context"}, {&D::fc1, "fc1"}, {&D::fc2, "fc2"},
        {&D::context_fc1, "context_fc1"}, {&D::context_fc2, "context_fc2"}};
    const std::vector<std::pair<Linear S::*, const char*>> single_names{
        {&S::norm, "norm"}, {&S::qkv, "qkv"}, {&S::out, "out"}, {&S::fc1, "fc1"}, {&S::fc2, "fc2"}};
    const auto add_block = [&](const auto& layout, const auto& names, const std::string& prefix) {
        for (const auto& [member, name] : names)
            for (const auto& entry : layout.linears)
                if (entry.slot == member) slots.push_back({prefix + name, entry.spec.in_mult * d, entry.spec.out_mult * d});
    };
    for (int64_t i = 0; i < c.num_layers; ++i) add_block(D::layout(), double_names, D::prefix(i));
    for (int64_t i = 0; i < c.num_single_layers; ++i) add_block(S::layout(), single_names, S::prefix(i));
    slots.push_back({"norm_out.linear", d, 2 * d});
    slots.push_back({"proj_out", d, c.output_features()});
    return slots;
}

bool is_flux_lora_module(const std::string& name, LoraKeyStyle style) { return resolve(name, style).has_value(); }

FluxLoraMatch match_flux_lora(const LoraFile& file, const FluxConfig& config) {
    std::map<std::string, FluxLinearSlot> slots;
    for (FluxLinearSlot& s : flux_linear_slots(config)) slots.emplace(s.name, std::move(s));
    const auto slot_at = [&](const std::string& name) -> const FluxLinearSlot* {
        const auto it = slots.find(name);
        return it == slots.end() ? nullptr : &it->second;
    };

    FluxLoraMatch match;
    // A fused qkv meets its q, k and v modules in one update, kept at the place
    // of the first of them; a second module for a part it has starts another.
    struct QkvGroup {
        size_t update;
        const LoraModule* parts[3] = {nullptr, nullptr, nullptr};
    };
    std::vector<QkvGroup> groups;
    for (const LoraModule& m : file.modules) {
        const std::optional<Resolved> r = resolve(m.name, file.style);
        const FluxLinearSlot* slot = r ? slot_at(r->slot()) : nullptr;
        const bool split = r && (r->leaf->fit == Fit::rows_qkv_fc1 || r->leaf->fit == Fit::cols_out_fc2);
        const FluxLinearSlot* second = split ? slot_at(r->second_slot()) : nullptr;
        if (slot == nullptr || (split && second == nullptr)) {  // not FLUX, or a block or embedder this config lacks
            for (std::string& key : keys_of(m)) match.unmatched_keys.push_back(std::move(key));
            continue;
        }
        const std::string target = "FLUX linear '" + slot->name + "'";
        switch (r->leaf->fit) {
            case Fit::whole:
            case Fit::swapped_halves: {
                require_shape(m, slot->in_features, slot->out_features, target);
                LowRankUpdate u{m.rank, m.down, m.up, scale_of(m)};
                if (r->leaf->fit == Fit::swapped_halves) {
                    const int64_t half = m.out_features / 2;
                    u.up = up_rows(m, half, half);
                    const std::vector<float> shift = up_rows(m, 0, half);
                    u.up.insert(u.up.end(), shift.begin(), shift.end());
                }
                match.updates.push_back({slot->name, std::move(u)});
                break;
            }
            case Fit::qkv_part: {
                static const char* const kPartNames[3] = {"q", "k", "v"};
                require_shape(m, slot->in_features, slot->out_features / 3,
                              target + " (its " + kPartNames[r->leaf->part] + " rows)");
                const auto vacant = std::find_if(groups.begin(), groups.end(), [&](const QkvGroup& g) {
                    return match.updates[g.update].layer == slot->name && g.parts[r->leaf->part] == nullptr;
                });
                QkvGroup* group = vacant != groups.end() ? &*vacant : nullptr;
                if (group == nullptr) {
                    match.updates.push_back({slot->name, {}});
                    group = &groups.emplace_back(QkvGroup{match.updates.size() - 1});
                }
                group->parts[r->leaf->part] = &m;
                break;
            }
            case Fit::rows_qkv_fc1: {
                require_shape(m, slot->in_features, slot->out_features + second->out_features,
                              "FLUX linears '" + slot->name + "' + '" + second->name + "' (rows)");
                match.updates.push_back({slot->name, {m.rank, m.down, up_rows(m, 0, slot->out_features), scale_of(m)}});
                match.updates.push_back(
                    {second->name, {m.rank, m.down, up_rows(m, slot->out_features, second->out_features), scale_of(m)}});
                break;
            }
            case Fit::cols_out_fc2: {
                require_shape(m, slot->in_features + second->in_features, slot->out_features,
                              "FLUX linears '" + slot->name + "' + '" + second->name + "' (columns)");
                match.updates.push_back({slot->name, {m.rank, down_columns(m, 0, slot->in_features), m.up, scale_of(m)}});
                match.updates.push_back(
                    {second->name, {m.rank, down_columns(m, slot->in_features, second->in_features), m.up, scale_of(m)}});
                break;
            }
        }
        ++match.matched_modules;
        if (!m.alpha_given) match.defaulted_alpha.push_back(m.name);
    }
    for (const QkvGroup& g : groups) {
        FluxLoraLayerUpdate& u = match.updates[g.update];
        u.update = fuse_qkv(g.parts, slot_at(u.layer)->out_features);
    }

    match.unmatched_keys.insert(match.unmatched_keys.end(), file.unused_keys.begin(), file.unused_keys.end());
    std::sort(match.unmatched_keys.begin(), match.unmatched_keys.end());
    if (match.matched_modules == 0) {
        const auto& keys = match.unmatched_keys;
        const std::string count = std::to_string(keys.size());
        const auto unet = std::find_if(keys.begin(), keys.end(), names_unet);
        if (unet != keys.end())
            fail(SVDQ_ERROR_FORMAT, "a LoRA for another model family (Stable Diffusion / SDXL UNet keys such as '" + *unet +
                                        "'), not for the FLUX.1 transformer: none of its " + count +
                                        " keys matches a FLUX linear");
        if (!keys.empty() && std::all_of(keys.begin(), keys.end(), names_text_encoder))
            fail(SVDQ_ERROR_FORMAT, "a LoRA for a text encoder only (keys such as '" + keys.front() +
                                        "'): none of its " + count + " keys matches a FLUX.1 transformer linear");
        fail(SVDQ_ERROR_FORMAT, "no key of the LoRA matches a linear of this FLUX.1 transformer (" +
                                    std::to_string(match.unmatched_keys.size()) + " keys: " +
                                    first_keys(match.unmatched_keys) + ")");
    }
    return match;
}

}  // namespace svdq
