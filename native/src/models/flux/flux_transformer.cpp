#include "models/flux/flux_transformer.h"

#include "backend/context.h"
#include "core/error.h"
#include "models/flux/flux_ops.h"

namespace svdq {

FluxTransformer::FluxTransformer(Context& ctx, const FluxCheckpoint& ck, svdq_linear_scheme block_scheme)
    : FluxTransformer(FluxLayerLoader(ctx, ck, block_scheme)) {}

FluxTransformer::FluxTransformer(FluxLayerLoader&& load)
    : config_(load.checkpoint().config()),
      embeddings_(load),
      norm_out_(load.dense("norm_out.linear", config_.inner_dim(), 2 * config_.inner_dim())),
      proj_out_(load.dense("proj_out", config_.inner_dim(), config_.output_features())) {
    for (int64_t i = 0; i < config_.num_layers; ++i) double_blocks_.emplace_back(load, i);
    for (int64_t i = 0; i < config_.num_single_layers; ++i) single_blocks_.emplace_back(load, i);
    load.checkpoint().require_all_read();
    block_scheme_ = load.block_scheme();
    block_format_ = load.block_format();
    parameter_count_ = load.parameters();
    weight_bytes_ = load.bytes();
}

void FluxTransformer::forward(Context& ctx, const FluxInputs& in, float* out, const FluxTrace& trace,
                              const LinearInputHook& hook, FluxBlockCache* cache) const {
    const Arena::Scope scope(ctx.arena());
    const FluxRun run{ctx, hook};
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

}  // namespace svdq
