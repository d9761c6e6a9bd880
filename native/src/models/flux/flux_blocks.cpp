#include "models/flux/flux_blocks.h"

#include <utility>

#include "backend/context.h"
#include "core/error.h"

namespace svdq {

namespace {

template <typename Block>
const FluxLayerSpec& spec_of(Linear Block::*slot) {
    for (const auto& entry : Block::layout().linears)
        if (entry.slot == slot) return entry.spec;
    fail(SVDQ_ERROR_INTERNAL, "a FLUX block linear without a layout entry");
}

// A q/k RMSNorm weight: diffusers and Nunchaku's diffusers-style keys keep
// it under attn., Nunchaku v0 under the block.
Buffer qk_norm(FluxLayerLoader& load, const std::string& prefix, const char* name) {
    return load.constant({prefix + "attn." + name + ".weight", prefix + name + ".weight"},
                         load.checkpoint().config().attention_head_dim);
}

template <typename Block>
Linear load_linear(FluxLayerLoader& load, int64_t index, Linear Block::*slot) {
    return load.block(Block::prefix(index), spec_of<Block>(slot));
}

}  // namespace

TensorView FluxRun::apply(const Linear& layer, const TensorView& x) const {
    const TensorView y = ctx.arena().matrix(x.rows, layer.out_features());
    apply_into(layer, x, y);
    return y;
}

TensorView FluxRun::apply_pair(const Linear& first, const Linear& second, const TensorView& x) const {
    if (hook) return apply(second, apply(first, x));
    const TensorView hidden = ctx.arena().matrix(x.rows, first.out_features());
    const TensorView y = ctx.arena().matrix(x.rows, second.out_features());
    Linear::forward_pair(ctx, first, second, x, hidden, y);
    return y;
}

void FluxRun::apply_into(const Linear& layer, const TensorView& x, const TensorView& y) const {
    record(layer, x);
    layer.forward(ctx, x, y);
}

void FluxRun::record(const Linear& layer, const TensorView& x) const {
    if (!hook) return;
    std::vector<float> host(static_cast<size_t>(x.numel()));
    ctx.backend().download(x, host.data());
    hook(layer, host, x.rows);
}

namespace {

// Batch item b's rows of `to`, its output going through scratch.
GatedResidual item(const FluxGatedAdd& to, const TensorView& scratch, int64_t b) {
    const int64_t t = to.tokens, d = to.residual.cols;
    return {to.residual.row_range(b * t, t), modulation_chunk(to.mod, b, to.chunk, d),
            to.addend.data != nullptr ? to.addend.row_range(b * t, t) : TensorView{}, scratch.row_range(b * t, t)};
}

}  // namespace

void FluxRun::apply_gated(const Linear& layer, const TensorView& x, const FluxGatedAdd& to) const {
    record(layer, x);
    const TensorView scratch = ctx.arena().matrix(x.rows, layer.out_features());
    for (int64_t b = 0; b < to.batch; ++b) layer.forward_gated(ctx, x.row_range(b * to.tokens, to.tokens), item(to, scratch, b));
}

void FluxRun::apply_pair_gated(const Linear& first, const Linear& second, const TensorView& x, const FluxGatedAdd& to) const {
    if (hook) return apply_gated(second, apply(first, x), to);
    const TensorView hidden = ctx.arena().matrix(x.rows, first.out_features());
    const TensorView scratch = ctx.arena().matrix(x.rows, second.out_features());
    for (int64_t b = 0; b < to.batch; ++b) {
        const int64_t r = b * to.tokens, t = to.tokens;
        Linear::forward_pair_gated(ctx, first, second, x.row_range(r, t), hidden.row_range(r, t), item(to, scratch, b));
    }
}

TensorView FluxRun::apply_qkv(const Linear& layer, const TensorView& x, const TensorView& q_weight, const TensorView& k_weight,
                             const FluxRope& rope, int64_t batch, int64_t tokens, int64_t rope_first) const {
    record(layer, x);
    const TensorView y = ctx.arena().matrix(x.rows, layer.out_features());
    const QkNormRope n{q_weight, k_weight, kFluxNormEps, rope.cos.row_range(rope_first, tokens), rope.sin.row_range(rope_first, tokens)};
    for (int64_t b = 0; b < batch; ++b)
        layer.forward_qk_norm_rope(ctx, x.row_range(b * tokens, tokens), y.row_range(b * tokens, tokens), n);
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
      context_fc2(load_linear(load, i, &FluxDoubleBlock::context_fc2)),
      norm_q(qk_norm(load, prefix(i), "norm_q")),
      norm_k(qk_norm(load, prefix(i), "norm_k")),
      norm_added_q(qk_norm(load, prefix(i), "norm_added_q")),
      norm_added_k(qk_norm(load, prefix(i), "norm_added_k")) {}

void FluxDoubleBlock::forward(const FluxRun& run, const TensorView& silu_temb, const FluxTokens& t, const FluxRope& rope,
                              const TensorView& x, const TensorView& c) const {
    Context& ctx = run.ctx;
    const Arena::Scope scope(ctx.arena());
    const int64_t d = x.cols, B = t.batch, si = t.img, st = t.txt, s = t.joint();
    const TensorView mod = run.apply(norm1, silu_temb);
    const TensorView cmod = run.apply(norm1_context, silu_temb);
    // Chunks: shift_msa 0, scale_msa 1, gate_msa 2, shift_mlp 3, scale_mlp 4, gate_mlp 5.
    // q and k normalised and rotated as the QKV GEMMs finish them; joint rows put text first.
    const TensorView image_qkv = run.apply_qkv(qkv, modulated_norm(ctx, x, B, si, mod, 0, 1), norm_q.view(), norm_k.view(), rope, B, si, st);
    const TensorView text_qkv =
        run.apply_qkv(qkv_context, modulated_norm(ctx, c, B, st, cmod, 0, 1), norm_added_q.view(), norm_added_k.view(), rope, B, st, 0);

    // Part 0, 1 or 2 (q, k, v) of both streams as one joint sequence, text first.
    auto joint = [&](int64_t part) {
        const TensorView j = ctx.arena().matrix(B * s, d);
        for (int64_t b = 0; b < B; ++b) {
            copy_rows(ctx, text_qkv.column_range(part * d, d), b * st, j, b * s, st);
            copy_rows(ctx, image_qkv.column_range(part * d, d), b * si, j, b * s + st, si);
        }
        return j;
    };
    const TensorView o = joint_attention(ctx, joint(0), joint(1), joint(2), B, s, rope.cos.cols, run.attention);
    const TensorView ox = ctx.arena().matrix(B * si, d), oc = ctx.arena().matrix(B * st, d);
    for (int64_t b = 0; b < B; ++b) {
        copy_rows(ctx, o, b * s, oc, b * st, st);
        copy_rows(ctx, o, b * s + st, ox, b * si, si);
    }
    run.apply_gated(out, ox, {x, B, si, mod, 2});
    run.apply_gated(out_context, oc, {c, B, st, cmod, 2});

    run.apply_pair_gated(fc1, fc2, modulated_norm(ctx, x, B, si, mod, 3, 4), {x, B, si, mod, 5});
    run.apply_pair_gated(context_fc1, context_fc2, modulated_norm(ctx, c, B, st, cmod, 3, 4), {c, B, st, cmod, 5});
}

const NamedLinears<FluxDoubleBlock>& FluxDoubleBlock::named_linears() {
    using B = FluxDoubleBlock;
    static const NamedLinears<B> names{
        {"norm1", &B::norm1}, {"norm1_context", &B::norm1_context}, {"qkv", &B::qkv},
        {"qkv_context", &B::qkv_context}, {"out", &B::out}, {"out_context", &B::out_context},
        {"fc1", &B::fc1}, {"fc2", &B::fc2}, {"context_fc1", &B::context_fc1},
        {"context_fc2", &B::context_fc2},
    };
    return names;
}

const NamedLinears<FluxSingleBlock>& FluxSingleBlock::named_linears() {
    using B = FluxSingleBlock;
    static const NamedLinears<B> names{{"norm", &B::norm}, {"qkv", &B::qkv}, {"out", &B::out}, {"fc1", &B::fc1}, {"fc2", &B::fc2}};
    return names;
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
      fc2(load_linear(load, i, &FluxSingleBlock::fc2)),
      norm_q(qk_norm(load, prefix(i), "norm_q")),
      norm_k(qk_norm(load, prefix(i), "norm_k")) {}

void FluxSingleBlock::forward(const FluxRun& run, const TensorView& silu_temb, const FluxTokens& t, const FluxRope& rope,
                              const TensorView& h) const {
    Context& ctx = run.ctx;
    Backend& backend = ctx.backend();
    const Arena::Scope scope(ctx.arena());
    const int64_t d = h.cols, B = t.batch, s = t.joint(), rows = B * s;
    // Chunks: shift 0, scale 1, gate 2.
    const TensorView mod = run.apply(norm, silu_temb);
    const TensorView nh = modulated_norm(ctx, h, B, s, mod, 0, 1);
    const TensorView joint_qkv = run.apply_qkv(qkv, nh, norm_q.view(), norm_k.view(), rope, B, s, 0);
    auto part = [&](int64_t p) {
        const TensorView v = ctx.arena().matrix(rows, d);
        backend.copy(joint_qkv.column_range(p * d, d), v);
        return v;
    };
    const TensorView attn = joint_attention(ctx, part(0), part(1), part(2), B, s, rope.cos.cols, run.attention);
    // diffusers' proj_out over [attention, MLP] is out(attention) + fc2(MLP):
    // fc2's epilogue adds out's output, then the gated sum into h.
    run.apply_pair_gated(fc1, fc2, nh, {h, B, s, mod, 2, run.apply(out, attn)});
}

}  // namespace svdq
