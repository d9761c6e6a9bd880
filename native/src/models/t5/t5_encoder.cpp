#include "models/t5/t5_encoder.h"

#include <algorithm>
#include <limits>

#include "backend/context.h"
#include "core/error.h"
#include "models/t5/t5_relative_position.h"

namespace svdq {

namespace {

// T5EncoderModel saves the embedding as shared.weight; encoder.embed_tokens.weight
// is the same tied tensor, stored by some exports instead or as well.
const std::string kShared = "shared.weight";
const std::string kEmbedTokens = "encoder.embed_tokens.weight";

bool is_weight(const std::string& name) { return name != kShared && name != kEmbedTokens; }

// No T5 linear has a bias.
Linear linear(Context& ctx, const SafeTensorsSet& tensors, const std::string& name, int64_t out, int64_t in,
              svdq_activation activation = SVDQ_ACTIVATION_NONE) {
    return float_linear(ctx, tensors, name, out, in, /*bias=*/false, activation);
}

}  // namespace

T5Encoder::T5Encoder(Context& ctx, const std::string& folder) : T5Encoder(ctx, open_transformers_folder(folder)) {}

T5Encoder::T5Encoder(Context& ctx, const TransformersFolder& folder)
    : config_(t5_config_from_json(folder.config, folder.config_path)),
      shared_(load_embedding(folder.tensors, folder.tensors.contains(kShared) ? kShared : kEmbedTokens, config_.vocab_size,
                             config_.d_model)),
      relative_attention_bias_(folder.tensors.read("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                                   {config_.relative_attention_num_buckets, config_.num_heads})),
      final_norm_(load_buffer(ctx, folder.tensors, "encoder.final_layer_norm.weight", {config_.d_model})) {
    const SafeTensorsSet& t = folder.tensors;
    const int64_t d = config_.d_model, inner = config_.inner_dim(), ff = config_.d_ff;
    blocks_.reserve(static_cast<size_t>(config_.num_layers));
    for (int64_t i = 0; i < config_.num_layers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        blocks_.push_back(Block{load_buffer(ctx, t, p + "0.layer_norm.weight", {d}),
                                linear(ctx, t, p + "0.SelfAttention.q", inner, d),
                                linear(ctx, t, p + "0.SelfAttention.k", inner, d),
                                linear(ctx, t, p + "0.SelfAttention.v", inner, d),
                                linear(ctx, t, p + "0.SelfAttention.o", d, inner),
                                load_buffer(ctx, t, p + "1.layer_norm.weight", {d}),
                                linear(ctx, t, p + "1.DenseReluDense.wi_0", ff, d, SVDQ_ACTIVATION_GELU_TANH),
                                linear(ctx, t, p + "1.DenseReluDense.wi_1", ff, d),
                                linear(ctx, t, p + "1.DenseReluDense.wo", d, ff)});
    }
    t.require_all_read(is_weight);
}

uint64_t T5Encoder::weight_bytes() const {
    const uint64_t d = static_cast<uint64_t>(config_.d_model);
    uint64_t bytes = shared_.memory_bytes() + relative_attention_bias_.size() * 4 + d * 4;
    for (const Block& b : blocks_)
        bytes += 2 * d * 4 + b.q.weight_bytes() + b.k.weight_bytes() + b.v.weight_bytes() + b.o.weight_bytes() +
                 b.wi_0.weight_bytes() + b.wi_1.weight_bytes() + b.wo.weight_bytes();
    return bytes;
}

void T5Encoder::forward(Context& ctx, const int64_t* ids, int64_t batch, int64_t length, const int64_t* attention_mask,
                        float* last_hidden_state) const {
    require(batch > 0 && length > 0, SVDQ_ERROR_INVALID_ARGUMENT,
            "T5 encoder: " + std::to_string(batch) + " x " + std::to_string(length) + " ids; neither may be 0");
    Backend& backend = ctx.backend();
    Arena& arena = ctx.arena();
    const Arena::Scope scope(arena);
    const int64_t rows = batch * length, d = config_.d_model, inner = config_.inner_dim(), heads = config_.num_heads;
    const float eps = static_cast<float>(config_.layer_norm_epsilon);

    float* host = ctx.host_staging(static_cast<size_t>(std::max(rows * d, heads * length * length)));
    shared_.gather(ids, rows, host);
    const TensorView x = arena.matrix(rows, d);
    backend.upload(host, x);

    AttentionBias attention;  // T5 does not scale the scores
    t5_position_bias(relative_attention_bias_.data(), config_.relative_attention_num_buckets, heads,
                     config_.relative_attention_max_distance, length, length, host);
    attention.bias = arena.matrix(heads * length, length);
    backend.upload(host, attention.bias);
    TensorView key_bias;  // [batch, length]: 0 for a token, float32's lowest for padding, as transformers masks
    if (attention_mask != nullptr) {
        for (int64_t i = 0; i < rows; ++i) {
            require(attention_mask[i] == 0 || attention_mask[i] == 1, SVDQ_ERROR_INVALID_ARGUMENT,
                    "T5 encoder: attention_mask value " + std::to_string(attention_mask[i]) + " at flat index " +
                        std::to_string(i) + " is neither 0 nor 1");
            host[i] = attention_mask[i] == 1 ? 0.0f : std::numeric_limits<float>::lowest();
        }
        key_bias = arena.matrix(batch, length);
        backend.upload(host, key_bias);
    }

    for (const Block& blk : blocks_) {
        const Arena::Scope block_scope(arena);
        const TensorView h = arena.matrix(rows, d), q = arena.matrix(rows, inner), k = arena.matrix(rows, inner),
                         v = arena.matrix(rows, inner), a = arena.matrix(rows, inner), o = arena.matrix(rows, d);
        backend.copy(x, h);
        backend.rms_norm_heads(h, blk.attention_norm.view(), eps);  // one "head" of d_model: T5LayerNorm
        blk.q.forward(ctx, h, q);
        blk.k.forward(ctx, h, k);
        blk.v.forward(ctx, h, v);
        for (int64_t b = 0; b < batch; ++b) {
            const auto item = [&](const TensorView& t) { return t.row_range(b * length, length); };
            if (key_bias.data != nullptr) attention.key_bias = key_bias.row_range(b, 1);
            backend.biased_attention(item(q), item(k), item(v), config_.d_kv, attention, item(a));
        }
        blk.o.forward(ctx, a, o);
        backend.add(x, o);

        const TensorView gate = arena.matrix(rows, config_.d_ff), up = arena.matrix(rows, config_.d_ff);
        backend.copy(x, h);
        backend.rms_norm_heads(h, blk.ff_norm.view(), eps);
        blk.wi_0.forward(ctx, h, gate);  // gelu_new in the epilogue
        blk.wi_1.forward(ctx, h, up);
        backend.multiply(gate, up);
        blk.wo.forward(ctx, gate, o);
        backend.add(x, o);
    }
    backend.rms_norm_heads(x, final_norm_.view(), eps);
    backend.download(x, last_hidden_state);
}

}  // namespace svdq
