#include "models/clip/clip_text_model.h"

#include <algorithm>
#include <cmath>

#include "backend/context.h"
#include "core/error.h"

namespace svdq {

namespace {

const std::string kPrefix = "text_model.";

// transformers' buffer of 0..max_position_embeddings - 1, which older
// checkpoints store: not a weight.
bool is_weight(const std::string& name) { return name != "text_model.embeddings.position_ids"; }

// Every CLIP linear has a bias.
Linear linear(Context& ctx, const SafeTensorsSet& tensors, const std::string& name, int64_t out, int64_t in) {
    return float_linear(ctx, tensors, name, out, in, /*bias=*/true);
}

}  // namespace

std::vector<int64_t> clip_eos_positions(const int64_t* ids, int64_t batch, int64_t length, int64_t eos_token_id) {
    std::vector<int64_t> positions(static_cast<size_t>(batch), 0);
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t* row = ids + b * length;
        int64_t& p = positions[static_cast<size_t>(b)];
        if (eos_token_id == 2) {
            p = std::max_element(row, row + length) - row;  // the first of the largest, as torch.argmax
        } else {
            const int64_t* eos = std::find(row, row + length, eos_token_id);
            p = eos == row + length ? 0 : eos - row;  // argmax of (ids == eos): 0 when no id matches
        }
    }
    return positions;
}

ClipTextModel::ClipTextModel(Context& ctx, const std::string& folder) : ClipTextModel(ctx, open_transformers_folder(folder)) {}

ClipTextModel::ClipTextModel(Context& ctx, const TransformersFolder& folder)
    : config_(clip_text_config_from_json(folder.config, folder.config_path)),
      token_embedding_(load_embedding(folder.tensors, kPrefix + "embeddings.token_embedding.weight", config_.vocab_size,
                                      config_.hidden_size)),
      position_embedding_(load_buffer(ctx, folder.tensors, kPrefix + "embeddings.position_embedding.weight",
                                      {config_.max_position_embeddings, config_.hidden_size})),
      final_norm_weight_(load_buffer(ctx, folder.tensors, kPrefix + "final_layer_norm.weight", {config_.hidden_size})),
      final_norm_bias_(load_buffer(ctx, folder.tensors, kPrefix + "final_layer_norm.bias", {config_.hidden_size})) {
    const SafeTensorsSet& t = folder.tensors;
    const int64_t d = config_.hidden_size, ff = config_.intermediate_size;
    layers_.reserve(static_cast<size_t>(config_.num_hidden_layers));
    for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
        const std::string p = kPrefix + "encoder.layers." + std::to_string(i) + ".";
        layers_.push_back(Layer{load_buffer(ctx, t, p + "layer_norm1.weight", {d}), load_buffer(ctx, t, p + "layer_norm1.bias", {d}),
                                linear(ctx, t, p + "self_attn.q_proj", d, d), linear(ctx, t, p + "self_attn.k_proj", d, d),
                                linear(ctx, t, p + "self_attn.v_proj", d, d), linear(ctx, t, p + "self_attn.out_proj", d, d),
                                load_buffer(ctx, t, p + "layer_norm2.weight", {d}), load_buffer(ctx, t, p + "layer_norm2.bias", {d}),
                                linear(ctx, t, p + "mlp.fc1", ff, d), linear(ctx, t, p + "mlp.fc2", d, ff)});
    }
    t.require_all_read(is_weight);
}

uint64_t ClipTextModel::weight_bytes() const {
    const uint64_t d = static_cast<uint64_t>(config_.hidden_size);
    uint64_t bytes = token_embedding_.memory_bytes() + (static_cast<uint64_t>(config_.max_position_embeddings) + 2) * d * 4;
    for (const Layer& l : layers_)
        bytes += 4 * d * 4 + l.q.weight_bytes() + l.k.weight_bytes() + l.v.weight_bytes() + l.out.weight_bytes() +
                 l.fc1.weight_bytes() + l.fc2.weight_bytes();
    return bytes;
}

void ClipTextModel::forward(Context& ctx, const int64_t* ids, int64_t batch, int64_t length, float* last_hidden_state,
                            float* pooled) const {
    require(batch > 0 && length > 0 && length <= config_.max_position_embeddings, SVDQ_ERROR_INVALID_ARGUMENT,
            "CLIP text encoder: " + std::to_string(batch) + " x " + std::to_string(length) +
                " ids; the batch must not be empty and the length must be 1.." + std::to_string(config_.max_position_embeddings) +
                " (max_position_embeddings)");
    Backend& backend = ctx.backend();
    Arena& arena = ctx.arena();
    const Arena::Scope scope(arena);
    const int64_t rows = batch * length, d = config_.hidden_size, heads = config_.num_attention_heads;
    const float eps = static_cast<float>(config_.layer_norm_eps);

    float* host = ctx.host_staging(static_cast<size_t>(rows * d));
    token_embedding_.gather(ids, rows, host);
    const TensorView x = arena.matrix(rows, d);
    backend.upload(host, x);
    const TensorView positions = position_embedding_.view().row_range(0, length);
    for (int64_t b = 0; b < batch; ++b) backend.add(x.row_range(b * length, length), positions);

    AttentionBias attention;
    attention.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(config_.head_dim())));
    attention.causal = true;
    for (const Layer& l : layers_) {
        const Arena::Scope layer_scope(arena);
        const TensorView h = arena.matrix(rows, d), q = arena.matrix(rows, d), k = arena.matrix(rows, d),
                         v = arena.matrix(rows, d), a = arena.matrix(rows, d), o = arena.matrix(rows, d);
        backend.layer_norm(x, l.norm1_weight.view(), l.norm1_bias.view(), eps, h);
        l.q.forward(ctx, h, q);
        l.k.forward(ctx, h, k);
        l.v.forward(ctx, h, v);
        for (int64_t b = 0; b < batch; ++b) {
            const auto item = [&](const TensorView& t) { return t.row_range(b * length, length); };
            backend.biased_attention(item(q), item(k), item(v), d / heads, attention, item(a));
        }
        l.out.forward(ctx, a, o);
        backend.add(x, o);

        const TensorView f = arena.matrix(rows, config_.intermediate_size);
        backend.layer_norm(x, l.norm2_weight.view(), l.norm2_bias.view(), eps, h);
        l.fc1.forward(ctx, h, f);
        backend.activate(f, config_.hidden_act);
        l.fc2.forward(ctx, f, o);
        backend.add(x, o);
    }
    const TensorView y = arena.matrix(rows, d);
    backend.layer_norm(x, final_norm_weight_.view(), final_norm_bias_.view(), eps, y);
    if (last_hidden_state != nullptr) backend.download(y, last_hidden_state);
    if (pooled != nullptr) {
        const std::vector<int64_t> eos = clip_eos_positions(ids, batch, length, config_.eos_token_id);
        for (int64_t b = 0; b < batch; ++b) backend.download(y.row_range(b * length + eos[static_cast<size_t>(b)], 1), pooled + b * d);
    }
}

}  // namespace svdq
