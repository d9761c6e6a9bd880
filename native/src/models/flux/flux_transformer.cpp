#include "models/flux/flux_transformer.h"

#include <cmath>
#include <map>

#include "core/context.h"
#include "core/error.h"
#include "nn/attention.h"
#include "nn/norms.h"
#include "nn/rope.h"

namespace svdq {

namespace {

constexpr float kNormEps = 1e-6f;  // every LayerNorm and q/k RMSNorm in FLUX
constexpr int64_t kTimestepChannels = 256;
constexpr double kRopeTheta = 10000.0;

std::vector<float> silu(std::vector<float> v) {
    for (float& x : v) x = x / (1.0f + std::exp(-x));
    return v;
}

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

// Rows [b * tokens, (b + 1) * tokens) of x normalised and modulated with
// chunks `scale_chunk` and `shift_chunk` of batch b's modulation row.
std::vector<float> modulated_norm(const std::vector<float>& x, int64_t batch, int64_t tokens, int64_t d,
                                  const std::vector<float>& mod, int64_t chunks, int64_t shift_chunk, int64_t scale_chunk) {
    std::vector<float> out(x.size());
    for (int64_t b = 0; b < batch; ++b) {
        const float* m = mod.data() + b * chunks * d;
        layer_norm_modulate(x.data() + b * tokens * d, tokens, d, m + scale_chunk * d, m + shift_chunk * d, kNormEps,
                            out.data() + b * tokens * d);
    }
    return out;
}

// x += gate * update, with gate = chunk `gate_chunk` of batch b's modulation.
void gated_add(std::vector<float>& x, const std::vector<float>& update, int64_t batch, int64_t tokens, int64_t d,
               const std::vector<float>& mod, int64_t chunks, int64_t gate_chunk) {
    for (int64_t b = 0; b < batch; ++b) {
        const float* gate = mod.data() + (b * chunks + gate_chunk) * d;
        for (int64_t s = 0; s < tokens; ++s)
            for (int64_t j = 0; j < d; ++j) {
                const size_t i = static_cast<size_t>((b * tokens + s) * d + j);
                x[i] += gate[j] * update[i];
            }
    }
}

// Copies rows [src_row, src_row + rows) of a [*, d] matrix into dst at dst_row.
void copy_rows(const std::vector<float>& src, int64_t src_row, std::vector<float>& dst, int64_t dst_row, int64_t rows, int64_t d) {
    std::copy(src.begin() + src_row * d, src.begin() + (src_row + rows) * d, dst.begin() + dst_row * d);
}

}  // namespace

// One forward's context: the engine context and the optional hook that sees
// every linear's input.
struct FluxTransformer::Run {
    Context& ctx;
    const LinearInputHook& hook;

    std::vector<float> apply(const Linear& layer, const std::vector<float>& x, int64_t rows) const {
        if (hook) hook(layer, x, rows);
        std::vector<float> y(static_cast<size_t>(rows * layer.out_features()));
        layer.forward(ctx, x.data(), rows, y.data());
        return y;
    }
};

// Reads tensors, builds linears and counts what it loaded.
struct FluxTransformer::Loader {
    Context& ctx;
    const FluxCheckpoint& ck;
    svdq_linear_kind block_kind;
    int64_t parameters = 0;
    uint64_t bytes = 0;

    std::vector<float> read(const std::string& name, const std::vector<int64_t>& shape) {
        std::vector<float> v = ck.read(name, shape);
        parameters += static_cast<int64_t>(v.size());
        bytes += v.size() * sizeof(float);
        return v;
    }
    // Embedders and output layers stay float; block linears take block_kind.
    Linear linear(const std::string& name, int64_t in, int64_t out, bool block = false,
                  svdq_activation activation = SVDQ_ACTIVATION_NONE) {
        LinearWeights w;
        w.kind = block ? block_kind : SVDQ_LINEAR_FLOAT;
        w.activation = activation;
        w.n = out;
        w.k = in;
        w.weight = ck.read(name + ".weight", {out, in});
        w.bias = ck.read(name + ".bias", {out});
        parameters += static_cast<int64_t>(w.weight.size() + w.bias.size());
        Linear layer(ctx, std::move(w));
        bytes += layer.weight_bytes();
        return layer;
    }
    Linear block(const std::string& name, int64_t in, int64_t out, svdq_activation activation = SVDQ_ACTIVATION_NONE) {
        return linear(name, in, out, true, activation);
    }
    // The adaLN modulation linears read silu(temb), not token activations:
    // as in Nunchaku they stay W4A16 when the blocks are W4A4.
    Linear modulation(const std::string& name, int64_t in, int64_t out) {
        const svdq_linear_kind saved = block_kind;
        if (block_kind == SVDQ_LINEAR_W4A4) block_kind = SVDQ_LINEAR_W4A16;
        Linear layer = linear(name, in, out, true);
        block_kind = saved;
        return layer;
    }
};

FluxTransformer::FluxTransformer(Context& ctx, const FluxCheckpoint& ck, svdq_linear_kind block_kind)
    : FluxTransformer(Loader{ctx, ck, block_kind}) {}

FluxTransformer::FluxTransformer(Loader&& load)
    : config_(load.ck.config()),
      block_kind_(load.block_kind),
      timestep_embedder_{load.linear("time_text_embed.timestep_embedder.linear_1", kTimestepChannels, config_.inner_dim()),
                         load.linear("time_text_embed.timestep_embedder.linear_2", config_.inner_dim(), config_.inner_dim())},
      text_embedder_{load.linear("time_text_embed.text_embedder.linear_1", config_.pooled_projection_dim, config_.inner_dim()),
                     load.linear("time_text_embed.text_embedder.linear_2", config_.inner_dim(), config_.inner_dim())},
      x_embedder_(load.linear("x_embedder", config_.in_channels * config_.patch_size * config_.patch_size, config_.inner_dim())),
      context_embedder_(load.linear("context_embedder", config_.joint_attention_dim, config_.inner_dim())),
      norm_out_(load.linear("norm_out.linear", config_.inner_dim(), 2 * config_.inner_dim())),
      proj_out_(load.linear("proj_out", config_.inner_dim(), config_.patch_features())) {
    const int64_t d = config_.inner_dim(), hd = config_.attention_head_dim;
    if (config_.guidance_embeds)
        guidance_embedder_.push_back(
            {load.linear("time_text_embed.guidance_embedder.linear_1", kTimestepChannels, d),
             load.linear("time_text_embed.guidance_embedder.linear_2", d, d)});
    for (int64_t i = 0; i < config_.num_layers; ++i) {
        const std::string p = "transformer_blocks." + std::to_string(i) + ".";
        double_blocks_.push_back(DoubleBlock{
            load.modulation(p + "norm1.linear", d, 6 * d), load.modulation(p + "norm1_context.linear", d, 6 * d),
            load.block(p + "attn.to_q", d, d), load.block(p + "attn.to_k", d, d),
            load.block(p + "attn.to_v", d, d), load.block(p + "attn.add_q_proj", d, d),
            load.block(p + "attn.add_k_proj", d, d), load.block(p + "attn.add_v_proj", d, d),
            load.block(p + "attn.to_out.0", d, d), load.block(p + "attn.to_add_out", d, d),
            load.block(p + "ff.net.0.proj", d, 4 * d, SVDQ_ACTIVATION_GELU_TANH),
            load.block(p + "ff.net.2", 4 * d, d),
            load.block(p + "ff_context.net.0.proj", d, 4 * d, SVDQ_ACTIVATION_GELU_TANH),
            load.block(p + "ff_context.net.2", 4 * d, d),
            load.read(p + "attn.norm_q.weight", {hd}), load.read(p + "attn.norm_k.weight", {hd}),
            load.read(p + "attn.norm_added_q.weight", {hd}), load.read(p + "attn.norm_added_k.weight", {hd})});
    }
    for (int64_t i = 0; i < config_.num_single_layers; ++i) {
        const std::string p = "single_transformer_blocks." + std::to_string(i) + ".";
        single_blocks_.push_back(SingleBlock{
            load.modulation(p + "norm.linear", d, 3 * d), load.block(p + "attn.to_q", d, d),
            load.block(p + "attn.to_k", d, d), load.block(p + "attn.to_v", d, d),
            load.block(p + "proj_mlp", d, 4 * d, SVDQ_ACTIVATION_GELU_TANH),
            load.block(p + "proj_out", 5 * d, d), load.read(p + "attn.norm_q.weight", {hd}),
            load.read(p + "attn.norm_k.weight", {hd})});
    }
    parameter_count_ = load.parameters;
    weight_bytes_ = load.bytes;
}

std::vector<float> FluxTransformer::time_embedding(const Run& run, const FluxInputs& in) const {
    auto embed = [&](const Embedder& e, const std::vector<float>& x) {
        return run.apply(e.linear_2, silu(run.apply(e.linear_1, x, in.batch)), in.batch);
    };
    std::vector<float> temb = embed(timestep_embedder_, timestep_sinusoid(in.timestep, in.batch));
    if (!guidance_embedder_.empty()) {
        const std::vector<float> g = embed(guidance_embedder_.front(), timestep_sinusoid(in.guidance, in.batch));
        for (size_t i = 0; i < temb.size(); ++i) temb[i] += g[i];
    }
    const std::vector<float> pooled(in.pooled_projections, in.pooled_projections + in.batch * config_.pooled_projection_dim);
    const std::vector<float> text = embed(text_embedder_, pooled);
    for (size_t i = 0; i < temb.size(); ++i) temb[i] += text[i];
    return temb;
}

// Joint attention over [text; image] per batch item. q/k/v hold the rows of
// both streams in batch order; returns the attention output in the same rows.
static std::vector<float> joint_attention(Context& ctx, const std::vector<float>& q, const std::vector<float>& k,
                                          const std::vector<float>& v, int64_t batch, int64_t tokens, int64_t heads,
                                          int64_t head_dim, const RopeTables& rope) {
    const int64_t d = heads * head_dim;
    std::vector<float> out(q.size()), qb(static_cast<size_t>(tokens * d)), kb(qb.size()), vb(qb.size()), ob(qb.size());
    for (int64_t b = 0; b < batch; ++b) {
        copy_rows(q, b * tokens, qb, 0, tokens, d);
        copy_rows(k, b * tokens, kb, 0, tokens, d);
        copy_rows(v, b * tokens, vb, 0, tokens, d);
        apply_rope(qb.data(), heads, rope);
        apply_rope(kb.data(), heads, rope);
        attention(qb.data(), kb.data(), vb.data(), tokens, heads, head_dim, ob.data(), ctx.pool());
        copy_rows(ob, 0, out, b * tokens, tokens, d);
    }
    return out;
}

void FluxTransformer::double_block(const Run& run, const DoubleBlock& blk, const std::vector<float>& silu_temb,
                                   const FluxInputs& in, const RopeTables& rope, std::vector<float>& x,
                                   std::vector<float>& c) const {
    const int64_t d = config_.inner_dim(), heads = config_.num_attention_heads, hd = config_.attention_head_dim;
    const int64_t B = in.batch, si = in.img_tokens, st = in.txt_tokens, s = si + st;
    const std::vector<float> mod = run.apply(blk.norm1, silu_temb, B);
    const std::vector<float> cmod = run.apply(blk.norm1_context, silu_temb, B);
    // Chunks: shift_msa 0, scale_msa 1, gate_msa 2, shift_mlp 3, scale_mlp 4, gate_mlp 5.
    const std::vector<float> nx = modulated_norm(x, B, si, d, mod, 6, 0, 1);
    const std::vector<float> nc = modulated_norm(c, B, st, d, cmod, 6, 0, 1);

    std::vector<float> q = run.apply(blk.to_q, nx, B * si), k = run.apply(blk.to_k, nx, B * si);
    std::vector<float> cq = run.apply(blk.add_q, nc, B * st), ck = run.apply(blk.add_k, nc, B * st);
    const std::vector<float> v = run.apply(blk.to_v, nx, B * si), cv = run.apply(blk.add_v, nc, B * st);
    rms_norm_heads(q.data(), B * si, heads, hd, blk.norm_q.data(), kNormEps);
    rms_norm_heads(k.data(), B * si, heads, hd, blk.norm_k.data(), kNormEps);
    rms_norm_heads(cq.data(), B * st, heads, hd, blk.norm_added_q.data(), kNormEps);
    rms_norm_heads(ck.data(), B * st, heads, hd, blk.norm_added_k.data(), kNormEps);

    // Text tokens come first in the joint sequence.
    auto joint = [&](const std::vector<float>& text, const std::vector<float>& image) {
        std::vector<float> j(static_cast<size_t>(B * s * d));
        for (int64_t b = 0; b < B; ++b) {
            copy_rows(text, b * st, j, b * s, st, d);
            copy_rows(image, b * si, j, b * s + st, si, d);
        }
        return j;
    };
    const std::vector<float> o = joint_attention(run.ctx, joint(cq, q), joint(ck, k), joint(cv, v), B, s, heads, hd, rope);
    std::vector<float> ox(static_cast<size_t>(B * si * d)), oc(static_cast<size_t>(B * st * d));
    for (int64_t b = 0; b < B; ++b) {
        copy_rows(o, b * s, oc, b * st, st, d);
        copy_rows(o, b * s + st, ox, b * si, si, d);
    }
    gated_add(x, run.apply(blk.to_out, ox, B * si), B, si, d, mod, 6, 2);
    gated_add(c, run.apply(blk.to_add_out, oc, B * st), B, st, d, cmod, 6, 2);

    const std::vector<float> fx = run.apply(blk.ff_out, run.apply(blk.ff_in, modulated_norm(x, B, si, d, mod, 6, 3, 4), B * si), B * si);
    gated_add(x, fx, B, si, d, mod, 6, 5);
    const std::vector<float> fc =
        run.apply(blk.ff_context_out, run.apply(blk.ff_context_in, modulated_norm(c, B, st, d, cmod, 6, 3, 4), B * st), B * st);
    gated_add(c, fc, B, st, d, cmod, 6, 5);
}

void FluxTransformer::single_block(const Run& run, const SingleBlock& blk, const std::vector<float>& silu_temb, int64_t B,
                                   int64_t s, const RopeTables& rope, std::vector<float>& h) const {
    const int64_t d = config_.inner_dim(), heads = config_.num_attention_heads, hd = config_.attention_head_dim;
    // Chunks: shift 0, scale 1, gate 2.
    const std::vector<float> mod = run.apply(blk.norm, silu_temb, B);
    const std::vector<float> nh = modulated_norm(h, B, s, d, mod, 3, 0, 1);
    const std::vector<float> mlp = run.apply(blk.proj_mlp, nh, B * s);
    std::vector<float> q = run.apply(blk.to_q, nh, B * s), k = run.apply(blk.to_k, nh, B * s);
    rms_norm_heads(q.data(), B * s, heads, hd, blk.norm_q.data(), kNormEps);
    rms_norm_heads(k.data(), B * s, heads, hd, blk.norm_k.data(), kNormEps);
    const std::vector<float> attn = joint_attention(run.ctx, q, k, run.apply(blk.to_v, nh, B * s), B, s, heads, hd, rope);
    // proj_out reads [attention, MLP] side by side.
    std::vector<float> both(static_cast<size_t>(B * s * 5 * d));
    for (int64_t r = 0; r < B * s; ++r) {
        std::copy(attn.begin() + r * d, attn.begin() + (r + 1) * d, both.begin() + r * 5 * d);
        std::copy(mlp.begin() + r * 4 * d, mlp.begin() + (r + 1) * 4 * d, both.begin() + r * 5 * d + d);
    }
    gated_add(h, run.apply(blk.proj_out, both, B * s), B, s, d, mod, 3, 2);
}

std::vector<float> FluxTransformer::forward(Context& ctx, const FluxInputs& in, const FluxTrace& trace,
                                            const LinearInputHook& hook) const {
    const Run run{ctx, hook};
    require(in.batch > 0 && in.img_tokens > 0 && in.txt_tokens > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "FLUX inputs need batch, image tokens and text tokens > 0");
    require(in.hidden_states && in.encoder_hidden_states && in.pooled_projections && in.timestep && in.img_ids && in.txt_ids,
            SVDQ_ERROR_INVALID_ARGUMENT, "FLUX inputs: hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids and txt_ids are required");
    require(!config_.guidance_embeds || in.guidance != nullptr, SVDQ_ERROR_INVALID_ARGUMENT,
            "this model embeds guidance (guidance_embeds): pass guidance [batch]");
    auto record = [&](const std::string& name, const std::vector<float>& v) {
        if (trace) trace(name, v);
    };
    const int64_t d = config_.inner_dim(), B = in.batch, si = in.img_tokens, st = in.txt_tokens, s = si + st;

    const std::vector<float> temb = time_embedding(run, in);
    record("temb", temb);
    const std::vector<float> silu_temb = silu(temb);
    const int64_t patch_in = config_.in_channels * config_.patch_size * config_.patch_size;
    std::vector<float> x = run.apply(x_embedder_, std::vector<float>(in.hidden_states, in.hidden_states + B * si * patch_in), B * si);
    std::vector<float> c = run.apply(context_embedder_,
                                 std::vector<float>(in.encoder_hidden_states, in.encoder_hidden_states + B * st * config_.joint_attention_dim), B * st);
    record("x_embedded", x);
    record("context_embedded", c);

    std::vector<float> ids(static_cast<size_t>(s * 3));
    std::copy(in.txt_ids, in.txt_ids + st * 3, ids.begin());
    std::copy(in.img_ids, in.img_ids + si * 3, ids.begin() + st * 3);
    const RopeTables rope = rope_tables(ids.data(), s, config_.axes_dims_rope, kRopeTheta);
    record("rope_cos", rope.cos);
    record("rope_sin", rope.sin);

    for (size_t i = 0; i < double_blocks_.size(); ++i) {
        double_block(run, double_blocks_[i], silu_temb, in, rope, x, c);
        record("transformer_blocks." + std::to_string(i) + ".hidden_states", x);
        record("transformer_blocks." + std::to_string(i) + ".encoder_hidden_states", c);
    }

    std::vector<float> h(static_cast<size_t>(B * s * d));
    for (int64_t b = 0; b < B; ++b) {
        copy_rows(c, b * st, h, b * s, st, d);
        copy_rows(x, b * si, h, b * s + st, si, d);
    }
    auto image_rows = [&](const std::vector<float>& joint) {
        std::vector<float> out(static_cast<size_t>(B * si * d));
        for (int64_t b = 0; b < B; ++b) copy_rows(joint, b * s + st, out, b * si, si, d);
        return out;
    };
    for (size_t i = 0; i < single_blocks_.size(); ++i) {
        single_block(run, single_blocks_[i], silu_temb, B, s, rope, h);
        if (trace) record("single_transformer_blocks." + std::to_string(i) + ".hidden_states", image_rows(h));
    }

    // AdaLayerNormContinuous: chunks are (scale, shift), the other way round.
    const std::vector<float> mod = run.apply(norm_out_, silu_temb, B);
    const std::vector<float> out = run.apply(proj_out_, modulated_norm(image_rows(h), B, si, d, mod, 2, 1, 0), B * si);
    record("output", out);
    return out;
}

}  // namespace svdq

namespace svdq {

std::vector<FluxTransformer::Group> FluxTransformer::block_groups() {
    std::vector<Group> groups;
    for (size_t i = 0; i < double_blocks_.size(); ++i) {
        DoubleBlock& b = double_blocks_[i];
        const std::string p = "transformer_blocks." + std::to_string(i) + ".";
        groups.push_back({{&b.to_q, &b.to_k, &b.to_v}, {p + "attn.to_q", p + "attn.to_k", p + "attn.to_v"}});
        groups.push_back({{&b.add_q, &b.add_k, &b.add_v}, {p + "attn.add_q_proj", p + "attn.add_k_proj", p + "attn.add_v_proj"}});
        groups.push_back({{&b.to_out}, {p + "attn.to_out.0"}});
        groups.push_back({{&b.to_add_out}, {p + "attn.to_add_out"}});
        groups.push_back({{&b.ff_in}, {p + "ff.net.0.proj"}});
        groups.push_back({{&b.ff_out}, {p + "ff.net.2"}});
        groups.push_back({{&b.ff_context_in}, {p + "ff_context.net.0.proj"}});
        groups.push_back({{&b.ff_context_out}, {p + "ff_context.net.2"}});
    }
    for (size_t i = 0; i < single_blocks_.size(); ++i) {
        SingleBlock& b = single_blocks_[i];
        const std::string p = "single_transformer_blocks." + std::to_string(i) + ".";
        groups.push_back({{&b.to_q, &b.to_k, &b.to_v, &b.proj_mlp}, {p + "attn.to_q", p + "attn.to_k", p + "attn.to_v", p + "proj_mlp"}});
        groups.push_back({{&b.proj_out}, {p + "proj_out"}});
    }
    return groups;
}

std::vector<Linear*> FluxTransformer::modulation_linears(std::vector<std::string>& names) {
    std::vector<Linear*> layers;
    for (size_t i = 0; i < double_blocks_.size(); ++i) {
        const std::string p = "transformer_blocks." + std::to_string(i) + ".";
        layers.push_back(&double_blocks_[i].norm1);
        names.push_back(p + "norm1.linear");
        layers.push_back(&double_blocks_[i].norm1_context);
        names.push_back(p + "norm1_context.linear");
    }
    for (size_t i = 0; i < single_blocks_.size(); ++i) {
        layers.push_back(&single_blocks_[i].norm);
        names.push_back("single_transformer_blocks." + std::to_string(i) + ".norm.linear");
    }
    return layers;
}

void FluxTransformer::quantize(Context& ctx, const FluxCheckpoint& ck, const std::vector<FluxInputs>& calibration,
                               const QuantizerOptions& options) {
    require(block_kind_ == SVDQ_LINEAR_FLOAT, SVDQ_ERROR_INVALID_ARGUMENT, "quantize needs a model loaded in float");
    require(!calibration.empty(), SVDQ_ERROR_INVALID_ARGUMENT, "quantize needs at least one calibration input");
    std::vector<Group> groups = block_groups();

    // Each group's input rows over all calibration forwards (its first layer sees them).
    std::map<const Linear*, size_t> first_layer;
    for (size_t g = 0; g < groups.size(); ++g) first_layer[groups[g].layers.front()] = g;
    std::vector<std::vector<float>> inputs(groups.size());
    const LinearInputHook collect = [&](const Linear& layer, const std::vector<float>& x, int64_t) {
        const auto it = first_layer.find(&layer);
        if (it != first_layer.end()) inputs[it->second].insert(inputs[it->second].end(), x.begin(), x.end());
    };
    for (const FluxInputs& in : calibration) forward(ctx, in, {}, collect);

    for (size_t g = 0; g < groups.size(); ++g) {
        Group& group = groups[g];
        const int64_t k = group.layers.front()->in_features();
        std::vector<LayerToQuantize> layers;
        for (size_t i = 0; i < group.layers.size(); ++i) {
            const int64_t n = group.layers[i]->out_features();
            layers.push_back({n, ck.read(group.names[i] + ".weight", {n, k}), ck.read(group.names[i] + ".bias", {n})});
        }
        QuantizedLayers q = quantize_layers(layers, k, inputs[g].data(), static_cast<int64_t>(inputs[g].size()) / k, options, ctx);
        for (size_t i = 0; i < group.layers.size(); ++i) {
            q.layers[i].activation = group.layers[i]->activation();  // the epilogue stays the float layer's
            *group.layers[i] = Linear(ctx, std::move(q.layers[i]));
        }
    }

    std::vector<std::string> names;
    const std::vector<Linear*> modulation = modulation_linears(names);
    for (size_t i = 0; i < modulation.size(); ++i) {
        LinearWeights w;
        w.kind = SVDQ_LINEAR_W4A16;
        w.n = modulation[i]->out_features();
        w.k = modulation[i]->in_features();
        w.weight = ck.read(names[i] + ".weight", {w.n, w.k});
        w.bias = ck.read(names[i] + ".bias", {w.n});
        *modulation[i] = Linear(ctx, std::move(w));
    }
    block_kind_ = SVDQ_LINEAR_W4A4;
    weight_bytes_ = 0;
    for (const Linear* l : all_linears()) weight_bytes_ += l->weight_bytes();
    for (const DoubleBlock& b : double_blocks_)
        weight_bytes_ += (b.norm_q.size() + b.norm_k.size() + b.norm_added_q.size() + b.norm_added_k.size()) * sizeof(float);
    for (const SingleBlock& b : single_blocks_) weight_bytes_ += (b.norm_q.size() + b.norm_k.size()) * sizeof(float);
}

std::vector<const Linear*> FluxTransformer::all_linears() const {
    std::vector<const Linear*> all{&timestep_embedder_.linear_1, &timestep_embedder_.linear_2, &text_embedder_.linear_1,
                                   &text_embedder_.linear_2, &x_embedder_, &context_embedder_, &norm_out_, &proj_out_};
    for (const Embedder& e : guidance_embedder_) all.insert(all.end(), {&e.linear_1, &e.linear_2});
    for (const DoubleBlock& b : double_blocks_)
        all.insert(all.end(), {&b.norm1, &b.norm1_context, &b.to_q, &b.to_k, &b.to_v, &b.add_q, &b.add_k, &b.add_v, &b.to_out,
                               &b.to_add_out, &b.ff_in, &b.ff_out, &b.ff_context_in, &b.ff_context_out});
    for (const SingleBlock& b : single_blocks_)
        all.insert(all.end(), {&b.norm, &b.to_q, &b.to_k, &b.to_v, &b.proj_mlp, &b.proj_out});
    return all;
}

}  // namespace svdq
