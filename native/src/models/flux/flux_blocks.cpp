#include "models/flux/flux_blocks.h"

#include <utility>

#include "core/context.h"
#include "core/error.h"
#include "models/flux/flux_ops.h"
#include "nn/norms.h"
#include "nn/rope.h"

namespace svdq {

namespace {

template <typename Block>
const FluxLayerSpec& spec_of(Linear Block::*slot) {
    for (const auto& entry : Block::layout().linears)
        if (entry.slot == slot) return entry.spec;
    fail(SVDQ_ERROR_INTERNAL, "a FLUX block linear without a layout entry");
}

template <typename Block>
Linear load_linear(FluxLayerLoader& load, int64_t index, Linear Block::*slot) {
    return load.block(Block::prefix(index), spec_of<Block>(slot));
}

}  // namespace

std::vector<float> FluxRun::apply(const Linear& layer, const std::vector<float>& x, int64_t rows) const {
    if (hook) hook(layer, x, rows);
    std::vector<float> y(static_cast<size_t>(rows * layer.out_features()));
    layer.forward(ctx, x.data(), rows, y.data());
    return y;
}

const BlockLayout<FluxDoubleBlock>& FluxDoubleBlock::layout() {
    using B = FluxDoubleBlock;
    const auto named = [](const char* v0) { return &nunchaku::layer_named(false, v0); };
    static const BlockLayout<B> table{
        {
            {&B::norm1, {named("norm1.linear"), {{"norm1.linear"}}, 1, 6, SVDQ_ACTIVATION_NONE}},
            {&B::norm1_context, {named("norm1_context.linear"), {{"norm1_context.linear"}}, 1, 6, SVDQ_ACTIVATION_NONE}},
            {&B::qkv, {named("qkv_proj"), {{"attn.to_q", "attn.to_k", "attn.to_v"}}, 1, 3, SVDQ_ACTIVATION_NONE}},
            {&B::qkv_context, {named("qkv_proj_context"), {{"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}}, 1, 3, SVDQ_ACTIVATION_NONE}},
            {&B::out, {named("out_proj"), {{"attn.to_out.0"}}, 1, 1, SVDQ_ACTIVATION_NONE}},
            {&B::out_context, {named("out_proj_context"), {{"attn.to_add_out"}}, 1, 1, SVDQ_ACTIVATION_NONE}},
            {&B::fc1, {named("mlp_fc1"), {{"ff.net.0.proj"}}, 1, 4, SVDQ_ACTIVATION_GELU_TANH}},
            {&B::fc2, {named("mlp_fc2"), {{"ff.net.2"}}, 4, 1, SVDQ_ACTIVATION_NONE}},
            {&B::context_fc1, {named("mlp_context_fc1"), {{"ff_context.net.0.proj"}}, 1, 4, SVDQ_ACTIVATION_GELU_TANH}},
            {&B::context_fc2, {named("mlp_context_fc2"), {{"ff_context.net.2"}}, 4, 1, SVDQ_ACTIVATION_NONE}},
        },
        {{2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}},
    };
    return table;
}

FluxDoubleBlock::FluxDoubleBlock(FluxLayerLoader& load, int64_t i)
    : norm1(load_linear(load, i, &FluxDoubleBlock::norm1)),
      norm1_context(load_linear(load, i, &FluxDoubleBlock::norm1_context)),
      qkv(load_linear(load, i, &FluxDoubleBlock::qkv)),
      qkv_context(load_linear(load, i, &FluxDoubleBlock::qkv_context)),
      out(load_linear(load, i, &FluxDoubleBlock::out)),
      out_context(load_linear(load, i, &FluxDoubleBlock::out_context)),
      fc1(load_linear(load, i, &FluxDoubleBlock::fc1)),
      fc2(load_linear(load, i, &FluxDoubleBlock::fc2)),
      context_fc1(load_linear(load, i, &FluxDoubleBlock::context_fc1)),
      context_fc2(load_linear(load, i, &FluxDoubleBlock::context_fc2)) {
    const std::string p = prefix(i);
    const int64_t hd = load.checkpoint().config().attention_head_dim;
    // Diffusers and Nunchaku's diffusers-style keys keep them under attn., Nunchaku v0 under the block.
    norm_q = load.vector({p + "attn.norm_q.weight", p + "norm_q.weight"}, hd);
    norm_k = load.vector({p + "attn.norm_k.weight", p + "norm_k.weight"}, hd);
    norm_added_q = load.vector({p + "attn.norm_added_q.weight", p + "norm_added_q.weight"}, hd);
    norm_added_k = load.vector({p + "attn.norm_added_k.weight", p + "norm_added_k.weight"}, hd);
}

void FluxDoubleBlock::forward(const FluxRun& run, const FluxConfig& config, const std::vector<float>& silu_temb,
                              const FluxTokens& t, const RopeTables& rope, std::vector<float>& x, std::vector<float>& c) const {
    const int64_t d = config.inner_dim(), heads = config.num_attention_heads, hd = config.attention_head_dim;
    const int64_t B = t.batch, si = t.img, st = t.txt, s = t.joint();
    const std::vector<float> mod = run.apply(norm1, silu_temb, B);
    const std::vector<float> cmod = run.apply(norm1_context, silu_temb, B);
    // Chunks: shift_msa 0, scale_msa 1, gate_msa 2, shift_mlp 3, scale_mlp 4, gate_mlp 5.
    const std::vector<float> image_qkv = run.apply(qkv, modulated_norm(x, B, si, d, mod, 6, 0, 1), B * si);
    const std::vector<float> text_qkv = run.apply(qkv_context, modulated_norm(c, B, st, d, cmod, 6, 0, 1), B * st);

    // Part 0, 1 or 2 (q, k, v) of both streams as one joint sequence, text first.
    auto joint = [&](int64_t part) {
        std::vector<float> j(static_cast<size_t>(B * s * d));
        for (int64_t b = 0; b < B; ++b) {
            for (int64_t r = 0; r < st; ++r)
                std::copy_n(text_qkv.begin() + (b * st + r) * 3 * d + part * d, d, j.begin() + (b * s + r) * d);
            for (int64_t r = 0; r < si; ++r)
                std::copy_n(image_qkv.begin() + (b * si + r) * 3 * d + part * d, d, j.begin() + (b * s + st + r) * d);
        }
        return j;
    };
    std::vector<float> q = joint(0), k = joint(1);
    for (int64_t b = 0; b < B; ++b) {
        rms_norm_heads(q.data() + b * s * d, st, heads, hd, norm_added_q.data(), kFluxNormEps);
        rms_norm_heads(k.data() + b * s * d, st, heads, hd, norm_added_k.data(), kFluxNormEps);
        rms_norm_heads(q.data() + (b * s + st) * d, si, heads, hd, norm_q.data(), kFluxNormEps);
        rms_norm_heads(k.data() + (b * s + st) * d, si, heads, hd, norm_k.data(), kFluxNormEps);
    }
    const std::vector<float> o = joint_attention(run.ctx, std::move(q), std::move(k), joint(2), B, s, heads, hd, rope);
    std::vector<float> ox(static_cast<size_t>(B * si * d)), oc(static_cast<size_t>(B * st * d));
    for (int64_t b = 0; b < B; ++b) {
        copy_rows(o, b * s, oc, b * st, st, d);
        copy_rows(o, b * s + st, ox, b * si, si, d);
    }
    gated_add(x, run.apply(out, ox, B * si), B, si, d, mod, 6, 2);
    gated_add(c, run.apply(out_context, oc, B * st), B, st, d, cmod, 6, 2);

    gated_add(x, run.apply(fc2, run.apply(fc1, modulated_norm(x, B, si, d, mod, 6, 3, 4), B * si), B * si), B, si, d, mod, 6, 5);
    gated_add(c, run.apply(context_fc2, run.apply(context_fc1, modulated_norm(c, B, st, d, cmod, 6, 3, 4), B * st), B * st),
              B, st, d, cmod, 6, 5);
}

const BlockLayout<FluxSingleBlock>& FluxSingleBlock::layout() {
    using B = FluxSingleBlock;
    const auto named = [](const char* v0) { return &nunchaku::layer_named(true, v0); };
    static const BlockLayout<B> table{
        {
            {&B::norm, {named("norm.linear"), {{"norm.linear"}}, 1, 3, SVDQ_ACTIVATION_NONE}},
            {&B::qkv, {named("qkv_proj"), {{"attn.to_q", "attn.to_k", "attn.to_v"}}, 1, 3, SVDQ_ACTIVATION_NONE}},
            {&B::out, {named("out_proj"), {{"proj_out"}, 0, 5, false}, 1, 1, SVDQ_ACTIVATION_NONE}},
            {&B::fc1, {named("mlp_fc1"), {{"proj_mlp"}}, 1, 4, SVDQ_ACTIVATION_GELU_TANH}},
            {&B::fc2, {named("mlp_fc2"), {{"proj_out"}, 1, 5, true}, 4, 1, SVDQ_ACTIVATION_NONE}},
        },
        {{1, 3}, {2}, {4}},
    };
    return table;
}

FluxSingleBlock::FluxSingleBlock(FluxLayerLoader& load, int64_t i)
    : norm(load_linear(load, i, &FluxSingleBlock::norm)),
      qkv(load_linear(load, i, &FluxSingleBlock::qkv)),
      out(load_linear(load, i, &FluxSingleBlock::out)),
      fc1(load_linear(load, i, &FluxSingleBlock::fc1)),
      fc2(load_linear(load, i, &FluxSingleBlock::fc2)) {
    const std::string p = prefix(i);
    const int64_t hd = load.checkpoint().config().attention_head_dim;
    norm_q = load.vector({p + "attn.norm_q.weight", p + "norm_q.weight"}, hd);
    norm_k = load.vector({p + "attn.norm_k.weight", p + "norm_k.weight"}, hd);
}

void FluxSingleBlock::forward(const FluxRun& run, const FluxConfig& config, const std::vector<float>& silu_temb,
                              const FluxTokens& t, const RopeTables& rope, std::vector<float>& h) const {
    const int64_t d = config.inner_dim(), heads = config.num_attention_heads, hd = config.attention_head_dim;
    const int64_t B = t.batch, s = t.joint(), rows = B * s;
    // Chunks: shift 0, scale 1, gate 2.
    const std::vector<float> mod = run.apply(norm, silu_temb, B);
    const std::vector<float> nh = modulated_norm(h, B, s, d, mod, 3, 0, 1);
    const std::vector<float> joint_qkv = run.apply(qkv, nh, rows);
    std::vector<float> q = take_columns(joint_qkv, rows, 3 * d, 0, d), k = take_columns(joint_qkv, rows, 3 * d, d, d);
    rms_norm_heads(q.data(), rows, heads, hd, norm_q.data(), kFluxNormEps);
    rms_norm_heads(k.data(), rows, heads, hd, norm_k.data(), kFluxNormEps);
    const std::vector<float> attn = joint_attention(run.ctx, std::move(q), std::move(k), take_columns(joint_qkv, rows, 3 * d, 2 * d, d), B, s, heads, hd, rope);
    // diffusers' proj_out over [attention, MLP] is out(attention) + fc2(MLP).
    std::vector<float> y = run.apply(out, attn, rows);
    const std::vector<float> mlp = run.apply(fc2, run.apply(fc1, nh, rows), rows);
    for (size_t i = 0; i < y.size(); ++i) y[i] += mlp[i];
    gated_add(h, y, B, s, d, mod, 3, 2);
}

}  // namespace svdq
