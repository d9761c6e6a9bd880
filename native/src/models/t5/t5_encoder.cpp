#include "models/t5/t5_encoder.h"

#include <algorithm>
#include <limits>

#include "backend/context.h"
#include "core/error.h"
#include "core/number_format.h"
#include "core/thread_pool.h"
#include "models/t5/t5_relative_position.h"
#include "models/text_encoder_loading.h"

namespace svdq {

namespace {

// T5EncoderModel saves the embedding as shared.weight; encoder.embed_tokens.weight
// is the same tied tensor, stored by some exports instead or as well.
const std::string kShared = "shared.weight";
const std::string kEmbedTokens = "encoder.embed_tokens.weight";

bool is_weight(const std::string& name) { return name != kShared && name != kEmbedTokens; }

const T5LoadOptions& checked(const T5LoadOptions& options) {
    require(options.scheme == SVDQ_SCHEME_FLOAT || options.scheme == SVDQ_SCHEME_W4A16, SVDQ_ERROR_UNSUPPORTED,
            std::string("T5 encoder: scheme ") + scheme_name(options.scheme) + " is not offered (FLOAT or W4A16 are)");
    return options;
}

}  // namespace

T5Encoder::T5Encoder(Context& ctx, const std::string& path, const T5LoadOptions& options)
    : T5Encoder(ctx, std::make_unique<const T5Checkpoint>(open_t5_checkpoint(path)), options) {}

T5Encoder::T5Encoder(Context& ctx, std::unique_ptr<const T5Checkpoint> source, const T5LoadOptions& options)
    : source_(std::move(source)),
      options_(checked(options)),
      config_(source_->config),
      shared_(load_embedding(source_->tensors, source_->tensors.contains(kShared) ? kShared : kEmbedTokens, config_.vocab_size,
                             config_.d_model)),
      relative_attention_bias_(source_->tensors.read("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                                     {config_.relative_attention_num_buckets, config_.num_heads})),
      final_norm_(load_buffer(ctx, source_->tensors, "encoder.final_layer_norm.weight", {config_.d_model})) {
    const SafeTensorsSet& t = source_->tensors;
    for (const std::string& name : {kShared, kEmbedTokens}) release_t5_tensor(*source_, name);
    const int64_t d = config_.d_model;
    blocks_.reserve(static_cast<size_t>(config_.num_layers));
    for (int64_t i = 0; i < config_.num_layers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        const std::vector<T5LinearSpec> specs = t5_block_linears(config_, i);
        const auto linear = [&](size_t j) {
            const T5StoredLinear s = read_t5_linear(*source_, specs[j], options_.scheme, ctx.pool());
            if (s.group_size != 0) scheme_ = SVDQ_SCHEME_W4A16;
            return Linear(ctx, s.weights);
        };
        // Braced initialisers run in order: q, k, v, o, wi_0, wi_1, wo, one at a time.
        blocks_.push_back(Block{load_buffer(ctx, t, p + "0.layer_norm.weight", {d}), linear(0), linear(1), linear(2), linear(3),
                                load_buffer(ctx, t, p + "1.layer_norm.weight", {d}), linear(4), linear(5), linear(6)});
    }
    t.require_all_read(is_weight);
}

void T5Encoder::save(const std::string& path) const {
    require(scheme_ == SVDQ_SCHEME_W4A16, SVDQ_ERROR_UNSUPPORTED,
            "T5 encoder: not saving " + path + ": the encoder loaded from " + source_->path +
                " is float; only a W4A16 encoder is saved as a 4-bit file (load it with scheme W4A16)");
    ThreadPool pool(0);  // quantizes float-stored layers again: rows are independent, so any thread count gives the same values
    write_t5_w4a16_file(*source_, options_.scheme, pool, path);
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
