#include "models/flux/flux_embeddings.h"

#include <cmath>

#include "core/error.h"
#include "models/flux/flux_ops.h"

namespace svdq {

namespace {

constexpr int64_t kTimestepChannels = 256;
constexpr double kRopeTheta = 10000.0;

// diffusers' Timesteps(256, flip_sin_to_cos=True, shift 0) of t * 1000:
// [cos(t f_i), sin(t f_i)] with f_i = 10000^(-i / 128).
std::vector<float> timestep_sinusoid(const float* t, int64_t batch) {
    const int64_t half = kTimestepChannels / 2;
    std::vector<float> out(static_cast<size_t>(batch * kTimestepChannels));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < half; ++i) {
            const double freq = std::exp(-std::log(10000.0) * static_cast<double>(i) / static_cast<double>(half));
            const double angle = static_cast<double>(t[b]) * 1000.0 * freq;
            out[static_cast<size_t>(b * kTimestepChannels + i)] = static_cast<float>(std::cos(angle));
            out[static_cast<size_t>(b * kTimestepChannels + half + i)] = static_cast<float>(std::sin(angle));
        }
    return out;
}

}  // namespace

FluxEmbeddings::FluxEmbeddings(FluxLayerLoader& load) : FluxEmbeddings(load, load.checkpoint().config()) {}

FluxEmbeddings::FluxEmbeddings(FluxLayerLoader& load, const FluxConfig& c)
    : timestep_{load.dense("time_text_embed.timestep_embedder.linear_1", kTimestepChannels, c.inner_dim()),
                load.dense("time_text_embed.timestep_embedder.linear_2", c.inner_dim(), c.inner_dim())},
      text_{load.dense("time_text_embed.text_embedder.linear_1", c.pooled_projection_dim, c.inner_dim()),
            load.dense("time_text_embed.text_embedder.linear_2", c.inner_dim(), c.inner_dim())},
      x_embedder_(load.dense("x_embedder", c.in_channels * c.patch_size * c.patch_size, c.inner_dim())),
      context_embedder_(load.dense("context_embedder", c.joint_attention_dim, c.inner_dim())) {
    if (c.guidance_embeds)
        guidance_.push_back({load.dense("time_text_embed.guidance_embedder.linear_1", kTimestepChannels, c.inner_dim()),
                             load.dense("time_text_embed.guidance_embedder.linear_2", c.inner_dim(), c.inner_dim())});
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
    auto record = [&](const std::string& name, const std::vector<float>& v) {
        if (trace) trace(name, v);
    };
    const int64_t B = in.batch, si = in.img_tokens, st = in.txt_tokens;
    auto mlp = [&](const Mlp& e, const std::vector<float>& x) {
        return run.apply(e.linear_2, silu(run.apply(e.linear_1, x, B)), B);
    };
    std::vector<float> temb = mlp(timestep_, timestep_sinusoid(in.timestep, B));
    if (!guidance_.empty()) {
        const std::vector<float> g = mlp(guidance_.front(), timestep_sinusoid(in.guidance, B));
        for (size_t i = 0; i < temb.size(); ++i) temb[i] += g[i];
    }
    const std::vector<float> text = mlp(text_, std::vector<float>(in.pooled_projections, in.pooled_projections + B * config.pooled_projection_dim));
    for (size_t i = 0; i < temb.size(); ++i) temb[i] += text[i];
    record("temb", temb);

    FluxEmbedded e;
    e.silu_temb = silu(std::move(temb));
    const int64_t patch_in = config.in_channels * config.patch_size * config.patch_size;
    e.x = run.apply(x_embedder_, std::vector<float>(in.hidden_states, in.hidden_states + B * si * patch_in), B * si);
    e.c = run.apply(context_embedder_,
                    std::vector<float>(in.encoder_hidden_states, in.encoder_hidden_states + B * st * config.joint_attention_dim), B * st);
    record("x_embedded", e.x);
    record("context_embedded", e.c);

    std::vector<float> ids(static_cast<size_t>((si + st) * 3));
    std::copy(in.txt_ids, in.txt_ids + st * 3, ids.begin());
    std::copy(in.img_ids, in.img_ids + si * 3, ids.begin() + st * 3);
    e.rope = rope_tables(ids.data(), si + st, config.axes_dims_rope, kRopeTheta);
    record("rope_cos", e.rope.cos);
    record("rope_sin", e.rope.sin);
    return e;
}

}  // namespace svdq
