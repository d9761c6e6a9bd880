#include "models/flux/flux_embeddings.h"

#include <cmath>

#include "backend/context.h"
#include "core/error.h"
#include "models/flux/flux_ops.h"
#include "nn/rope.h"

namespace svdq {

namespace {

constexpr int64_t kTimestepChannels = 256;
constexpr double kRopeTheta = 10000.0;

// diffusers' Timesteps(256, flip_sin_to_cos=True, shift 0) of t * 1000:
// [cos(t f_i), sin(t f_i)] with f_i = 10000^(-i / 128), made on the host.
TensorView timestep_sinusoid(Context& ctx, const float* t, int64_t batch) {
    const int64_t half = kTimestepChannels / 2;
    float* out = ctx.host_staging(static_cast<size_t>(batch * kTimestepChannels));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < half; ++i) {
            const double freq = std::exp(-std::log(10000.0) * static_cast<double>(i) / static_cast<double>(half));
            const double angle = static_cast<double>(t[b]) * 1000.0 * freq;
            out[b * kTimestepChannels + i] = static_cast<float>(std::cos(angle));
            out[b * kTimestepChannels + half + i] = static_cast<float>(std::sin(angle));
        }
    const TensorView v = ctx.arena().matrix(batch, kTimestepChannels);
    ctx.backend().upload(out, v);
    return v;
}

}  // namespace

void record(Context& ctx, const FluxTrace& trace, const char* name, const TensorView& values) {
    if (!trace) return;
    std::vector<float> host(static_cast<size_t>(values.numel()));
    ctx.backend().download(values, host.data());
    trace(name, host);
}

FluxEmbeddings::FluxEmbeddings(FluxLayerLoader& load) : FluxEmbeddings(load, load.checkpoint().config()) {}

FluxEmbeddings::FluxEmbeddings(FluxLayerLoader& load, const FluxConfig& c)
    : timestep_{load.dense("time_text_embed.timestep_embedder.linear_1", kTimestepChannels, c.inner_dim()),
                load.dense("time_text_embed.timestep_embedder.linear_2", c.inner_dim(), c.inner_dim())},
      text_{load.dense("time_text_embed.text_embedder.linear_1", c.pooled_projection_dim, c.inner_dim()),
            load.dense("time_text_embed.text_embedder.linear_2", c.inner_dim(), c.inner_dim())},
      x_embedder_(load.dense("x_embedder", c.input_features(), c.inner_dim())),
      context_embedder_(load.dense("context_embedder", c.joint_attention_dim, c.inner_dim())) {
    if (c.guidance_embeds)
        guidance_.push_back({load.dense("time_text_embed.guidance_embedder.linear_1", kTimestepChannels, c.inner_dim()),
                             load.dense("time_text_embed.guidance_embedder.linear_2", c.inner_dim(), c.inner_dim())});
}

std::vector<std::pair<std::string, Linear*>> FluxEmbeddings::named_linears() {
    std::vector<std::pair<std::string, Linear*>> out = {
        {"time_text_embed.timestep_embedder.linear_1", &timestep_.linear_1},
        {"time_text_embed.timestep_embedder.linear_2", &timestep_.linear_2},
        {"time_text_embed.text_embedder.linear_1", &text_.linear_1},
        {"time_text_embed.text_embedder.linear_2", &text_.linear_2},
        {"x_embedder", &x_embedder_},
        {"context_embedder", &context_embedder_},
    };
    for (Mlp& g : guidance_) {
        out.emplace_back("time_text_embed.guidance_embedder.linear_1", &g.linear_1);
        out.emplace_back("time_text_embed.guidance_embedder.linear_2", &g.linear_2);
    }
    return out;
}

FluxEmbedded FluxEmbeddings::embed(const FluxRun& run, const FluxConfig& config, const FluxInputs& in,
                                   const FluxTrace& trace) const {
    require(in.batch > 0 && in.img_tokens > 0 && in.txt_tokens > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "FLUX inputs need batch, image tokens and text tokens > 0");
    require(in.hidden_states && in.encoder_hidden_states && in.pooled_projections && in.timestep && in.img_ids && in.txt_ids,
            SVDQ_ERROR_INVALID_ARGUMENT,
            "FLUX inputs: hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids and txt_ids are required");
    require(!config.guidance_embeds || in.guidance != nullptr, SVDQ_ERROR_INVALID_ARGUMENT,
            "this model embeds guidance (guidance_embeds): pass guidance [batch]");
    Context& ctx = run.ctx;
    Backend& backend = ctx.backend();
    const int64_t B = in.batch, si = in.img_tokens, st = in.txt_tokens;
    auto mlp = [&](const Mlp& e, const TensorView& x) {
        const TensorView hidden = run.apply(e.linear_1, x);
        backend.silu(hidden);
        return run.apply(e.linear_2, hidden);
    };
    const TensorView temb = mlp(timestep_, timestep_sinusoid(ctx, in.timestep, B));
    if (!guidance_.empty()) backend.add(temb, mlp(guidance_.front(), timestep_sinusoid(ctx, in.guidance, B)));
    backend.add(temb, mlp(text_, ctx.arena().input(in.pooled_projections, B, config.pooled_projection_dim)));
    record(ctx, trace, "temb", temb);

    FluxEmbedded e;
    backend.silu(temb);
    e.silu_temb = temb;
    e.x = run.apply(x_embedder_, ctx.arena().input(in.hidden_states, B * si, config.input_features()));
    e.c = run.apply(context_embedder_, ctx.arena().input(in.encoder_hidden_states, B * st, config.joint_attention_dim));
    record(ctx, trace, "x_embedded", e.x);
    record(ctx, trace, "context_embedded", e.c);

    // Positions of the joint sequence, text first, then their angles, on the host.
    const int64_t s = si + st, hd = config.attention_head_dim;
    float* ids = ctx.host_staging(static_cast<size_t>(s * (3 + 2 * hd)));
    float *cos = ids + s * 3, *sin = cos + s * hd;
    std::copy(in.txt_ids, in.txt_ids + st * 3, ids);
    std::copy(in.img_ids, in.img_ids + si * 3, ids + st * 3);
    rope_tables(ids, s, config.axes_dims_rope, kRopeTheta, cos, sin);
    e.rope = {ctx.arena().matrix(s, hd), ctx.arena().matrix(s, hd)};
    backend.upload(cos, e.rope.cos);
    backend.upload(sin, e.rope.sin);
    record(ctx, trace, "rope_cos", e.rope.cos);
    record(ctx, trace, "rope_sin", e.rope.sin);
    return e;
}

}  // namespace svdq
