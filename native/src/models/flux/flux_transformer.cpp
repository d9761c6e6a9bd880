#include "models/flux/flux_transformer.h"

#include "core/context.h"
#include "core/error.h"
#include "models/flux/flux_ops.h"

namespace svdq {

FluxTransformer::FluxTransformer(Context& ctx, const FluxCheckpoint& ck, svdq_linear_kind block_kind)
    : FluxTransformer(FluxLayerLoader(ctx, ck, block_kind)) {}

FluxTransformer::FluxTransformer(FluxLayerLoader&& load)
    : config_(load.checkpoint().config()),
      block_kind_(load.block_kind()),
      embeddings_(load),
      norm_out_(load.dense("norm_out.linear", config_.inner_dim(), 2 * config_.inner_dim())),
      proj_out_(load.dense("proj_out", config_.inner_dim(), config_.patch_features())) {
    for (int64_t i = 0; i < config_.num_layers; ++i) double_blocks_.emplace_back(load, i);
    for (int64_t i = 0; i < config_.num_single_layers; ++i) single_blocks_.emplace_back(load, i);
    load.checkpoint().require_all_read();
    if (load.stored_quantized() > 0) block_kind_ = SVDQ_LINEAR_W4A4;
    parameter_count_ = load.parameters();
    weight_bytes_ = load.bytes();
}

std::vector<float> FluxTransformer::forward(Context& ctx, const FluxInputs& in, const FluxTrace& trace,
                                            const LinearInputHook& hook) const {
    const FluxRun run{ctx, hook};
    FluxEmbedded e = embeddings_.embed(run, config_, in, trace);
    auto record = [&](const std::string& name, const std::vector<float>& v) {
        if (trace) trace(name, v);
    };
    const FluxTokens t = in.tokens();
    const int64_t d = config_.inner_dim(), B = t.batch, si = t.img, st = t.txt, s = t.joint();

    for (size_t i = 0; i < double_blocks_.size(); ++i) {
        double_blocks_[i].forward(run, config_, e.silu_temb, t, e.rope, e.x, e.c);
        record(FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + "hidden_states", e.x);
        record(FluxDoubleBlock::prefix(static_cast<int64_t>(i)) + "encoder_hidden_states", e.c);
    }

    std::vector<float> h(static_cast<size_t>(B * s * d));
    for (int64_t b = 0; b < B; ++b) {
        copy_rows(e.c, b * st, h, b * s, st, d);
        copy_rows(e.x, b * si, h, b * s + st, si, d);
    }
    auto image_rows = [&](const std::vector<float>& joint) {
        std::vector<float> image(static_cast<size_t>(B * si * d));
        for (int64_t b = 0; b < B; ++b) copy_rows(joint, b * s + st, image, b * si, si, d);
        return image;
    };
    for (size_t i = 0; i < single_blocks_.size(); ++i) {
        single_blocks_[i].forward(run, config_, e.silu_temb, t, e.rope, h);
        if (trace) record(FluxSingleBlock::prefix(static_cast<int64_t>(i)) + "hidden_states", image_rows(h));
    }

    // AdaLayerNormContinuous: chunks are (scale, shift), the other way round.
    const std::vector<float> mod = run.apply(norm_out_, e.silu_temb, B);
    const std::vector<float> out = run.apply(proj_out_, modulated_norm(image_rows(h), B, si, d, mod, 2, 1, 0), B * si);
    record("output", out);
    return out;
}

}  // namespace svdq
