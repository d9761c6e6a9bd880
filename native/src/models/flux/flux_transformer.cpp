#include "models/flux/flux_transformer.h"

#include <cmath>
#include <functional>
#include <mutex>
#include <set>
#include <utility>

#include "backend/context.h"
#include "core/error.h"
#include "models/flux/flux_lora_updates.h"
#include "models/flux/flux_ops.h"

namespace svdq {

FluxTransformer::FluxTransformer(Context& ctx, const FluxCheckpoint& ck, svdq_linear_scheme block_scheme,
                                 svdq_attention_precision attention)
    : FluxTransformer(FluxLayerLoader(ctx, ck, block_scheme), attention) {}

FluxTransformer::FluxTransformer(FluxLayerLoader&& load, svdq_attention_precision attention)
    : config_(load.checkpoint().config()),
      embeddings_(load),
      norm_out_(load.dense("norm_out.linear", config_.inner_dim(), 2 * config_.inner_dim())),
      proj_out_(load.dense("proj_out", config_.inner_dim(), config_.output_features())) {
    for (int64_t i = 0; i < config_.num_layers; ++i) double_blocks_.emplace_back(load, i);
    for (int64_t i = 0; i < config_.num_single_layers; ++i) single_blocks_.emplace_back(load, i);
    load.checkpoint().require_all_read();
    block_scheme_ = load.block_scheme();
    block_format_ = load.block_format();
    const bool four_bit = block_scheme_ == SVDQ_SCHEME_W4A4 || block_scheme_ == SVDQ_SCHEME_W4A16;
    attention_ = attention == SVDQ_ATTENTION_BF16 || (attention == SVDQ_ATTENTION_AUTO && four_bit) ? AttentionPrecision::bf16
                                                                                                   : AttentionPrecision::fp32;
    parameter_count_ = load.parameters();
    weight_bytes_ = load.bytes();
}

void FluxTransformer::forward(Context& ctx, const FluxInputs& in, float* out, const FluxTrace& trace,
                              const LinearInputHook& hook, FluxBlockCache* cache) const {
    const std::shared_lock<std::shared_mutex> loras_stay(*lora_mutex_);
    const Arena::Scope scope(ctx.arena());
    const FluxRun run{ctx, hook, attention_};
    const FluxEmbedded e = embeddings_.embed(run, config_, in, trace);
    const FluxTokens t = in.tokens();
    const int64_t d = config_.inner_dim(), B = t.batch, si = t.img;

    // With a cache, the first block's input and output image states are kept.
    TensorView first_in, first_out;
    if (cache) {
        first_in = ctx.arena().matrix(B * si, d);
        ctx.backend().copy(e.x, first_in);
    }
    TensorView image;
    for (size_t i = 0; i < double_blocks_.size(); ++i) {
        double_blocks_[i].forward(run, e.silu_temb, t, e.rope, e.x, e.c);
        if (i == 0 && cache) {
            first_out = ctx.arena().matrix(B * si, d);
            ctx.backend().copy(e.x, first_out);
            if (cache->can_skip(ctx, first_in, first_out)) {
                image = ctx.arena().matrix(B * si, d);
                cache->reuse(ctx, first_out, image);
                break;
            }
        }
        if (!trace) continue;
        record(ctx, trace, (FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + "hidden_states").c_str(), e.x);
        record(ctx, trace, (FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + "encoder_hidden_states").c_str(), e.c);
    }
    if (image.data == nullptr) {
        image = run_single_blocks(run, e, t, trace);
        if (cache) cache->remember(ctx, first_out, image);
    }

    // AdaLayerNormContinuous: chunks are (scale, shift), the other way round.
    const TensorView mod = run.apply(norm_out_, e.silu_temb);
    const TensorView normed = modulated_norm(ctx, image, B, si, mod, 1, 0);
    const TensorView result = TensorView::host(out, B * si, config_.output_features());
    if (ctx.backend().reads_host_memory())
        run.apply_into(proj_out_, normed, result);
    else
        ctx.backend().download(run.apply(proj_out_, normed), out);
    if (trace) trace("output", std::vector<float>(out, out + result.numel()));
}

TensorView FluxTransformer::run_single_blocks(const FluxRun& run, const FluxEmbedded& e, const FluxTokens& t,
                                              const FluxTrace& trace) const {
    Context& ctx = run.ctx;
    const int64_t d = config_.inner_dim(), B = t.batch, si = t.img, st = t.txt, s = t.joint();
    const TensorView h = ctx.arena().matrix(B * s, d);
    for (int64_t b = 0; b < B; ++b) {
        copy_rows(ctx, e.c, b * st, h, b * s, st);
        copy_rows(ctx, e.x, b * si, h, b * s + st, si);
    }
    auto image_rows = [&] {
        const TensorView image = ctx.arena().matrix(B * si, d);
        for (int64_t b = 0; b < B; ++b) copy_rows(ctx, h, b * s + st, image, b * si, si);
        return image;
    };
    for (size_t i = 0; i < single_blocks_.size(); ++i) {
        single_blocks_[i].forward(run, e.silu_temb, t, e.rope, h);
        if (trace) record(ctx, trace, (FluxSingleBlock::prefix(static_cast<int64_t>(i)) + "hidden_states").c_str(), image_rows());
    }
    return image_rows();
}

std::vector<float> FluxTransformer::forward(Context& ctx, const FluxInputs& in, const FluxTrace& trace,
                                            const LinearInputHook& hook) const {
    std::vector<float> out(static_cast<size_t>(in.batch * in.img_tokens * config_.output_features()));
    forward(ctx, in, out.data(), trace, hook);
    return out;
}

std::map<std::string, Linear*> FluxTransformer::linears_by_slot() {
    std::map<std::string, Linear*> slots;
    for (auto& [name, linear] : embeddings_.named_linears()) slots[name] = linear;
    slots["norm_out.linear"] = &norm_out_;
    slots["proj_out"] = &proj_out_;
    for (size_t i = 0; i < double_blocks_.size(); ++i)
        for (const auto& [name, member] : FluxDoubleBlock::named_linears())
            slots[FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + name] = &(double_blocks_[i].*member);
    for (size_t i = 0; i < single_blocks_.size(); ++i)
        for (const auto& [name, member] : FluxSingleBlock::named_linears())
            slots[FluxSingleBlock::prefix(static_cast<int64_t>(i)) + name] = &(single_blocks_[i].*member);
    return slots;
}

namespace {

// The linears a LoRA changes.
std::set<std::string> layers_of(const FluxLora& lora) {
    std::set<std::string> layers;
    for (const FluxLoraLayerUpdate& u : lora.match.updates) layers.insert(u.layer);
    return layers;
}

}  // namespace

void FluxTransformer::change_loras(Context& ctx, const std::map<std::string, Linear*>& slots, const std::set<std::string>& layers,
                                   const std::function<void()>& change, const std::function<void()>& undo) {
    const auto apply = [&] {
        for (const std::string& layer : layers) slots.at(layer)->set_low_rank_updates(ctx, flux_lora_updates(loras_, layer));
    };
    change();
    try {
        apply();
    } catch (...) {  // out of memory half way (all else was checked): back to the LoRAs as they were
        undo();
        try {
            apply();
        } catch (...) {
        }
        throw;
    }
}

size_t FluxTransformer::lora_index(int32_t id) const {
    for (size_t i = 0; i < loras_.size(); ++i)
        if (loras_[i].id == id) return i;
    fail(SVDQ_ERROR_INVALID_ARGUMENT, "no LoRA has id " + std::to_string(id));
}

int32_t FluxTransformer::add_lora(Context& ctx, FluxLoraMatch match, float strength, std::string name) {
    const std::unique_lock<std::shared_mutex> no_forwards(*lora_mutex_);
    const std::map<std::string, Linear*> slots = linears_by_slot();
    std::map<std::string, FluxSlotShape> shapes;
    for (const auto& [slot, linear] : slots) shapes[slot] = {linear->in_features(), linear->out_features()};
    FluxLora lora{next_lora_id_, std::move(name), strength, std::move(match)};
    check_flux_lora(lora, shapes);
    const std::set<std::string> layers = layers_of(lora);
    change_loras(ctx, slots, layers, [&] { loras_.push_back(std::move(lora)); }, [&] { loras_.pop_back(); });
    return next_lora_id_++;
}

void FluxTransformer::set_lora_strength(Context& ctx, int32_t id, float strength) {
    const std::unique_lock<std::shared_mutex> no_forwards(*lora_mutex_);
    FluxLora& lora = loras_[lora_index(id)];
    require(std::isfinite(strength), SVDQ_ERROR_NON_FINITE, "LoRA '" + lora.name + "': the strength is " + value_text(strength));
    const float before = lora.strength;
    change_loras(ctx, linears_by_slot(), layers_of(lora), [&] { lora.strength = strength; }, [&] { lora.strength = before; });
}

void FluxTransformer::remove_lora(Context& ctx, int32_t id) {
    const std::unique_lock<std::shared_mutex> no_forwards(*lora_mutex_);
    const size_t at = lora_index(id);
    FluxLora removed;
    change_loras(ctx, linears_by_slot(), layers_of(loras_[at]),
                 [&] {
                     removed = std::move(loras_[at]);
                     loras_.erase(loras_.begin() + static_cast<std::ptrdiff_t>(at));
                 },
                 [&] { loras_.insert(loras_.begin() + static_cast<std::ptrdiff_t>(at), std::move(removed)); });
}

void FluxTransformer::clear_loras(Context& ctx) {
    const std::unique_lock<std::shared_mutex> no_forwards(*lora_mutex_);
    std::set<std::string> layers;
    for (const FluxLora& lora : loras_) layers.merge(layers_of(lora));
    std::vector<FluxLora> removed;
    change_loras(ctx, linears_by_slot(), layers, [&] { removed = std::move(loras_); loras_.clear(); },
                 [&] { loras_ = std::move(removed); });
}

}  // namespace svdq
