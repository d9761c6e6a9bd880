// transformers' T5EncoderModel, T5 v1.1 (FLUX's text_encoder_2/, T5-XXL): the
// shared embedding without scaling; per block an RMS-normed self-attention
// without 1/sqrt(d) scaling plus the relative position bias of block 0 (shared
// by all blocks) and an RMS-normed gated-GELU (tanh) feed-forward, each added
// to the residual; a final RMS norm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "models/t5/t5_config.h"
#include "models/text_encoder_loading.h"
#include "nn/embedding.h"
#include "nn/linear.h"

namespace svdq {

class Context;

class T5Encoder {
public:
    // `folder`: config.json and model.safetensors or the shards its
    // model.safetensors.index.json names, with T5EncoderModel's key names.
    // Errors name the missing tensor, or the tensor with its shape and the
    // shape the config needs.
    T5Encoder(Context& ctx, const std::string& folder);

    const T5Config& config() const { return config_; }
    uint64_t weight_bytes() const;

    // ids [batch, length] -> last_hidden_state [batch, length, d_model].
    // attention_mask [batch, length] (1: a token, 0: padding no query attends
    // to) may be NULL: every token is attended to, as FLUX calls the encoder.
    // An id outside the vocabulary or a mask value other than 0 and 1 is
    // SVDQ_ERROR_INVALID_ARGUMENT naming it.
    void forward(Context& ctx, const int64_t* ids, int64_t batch, int64_t length, const int64_t* attention_mask,
                 float* last_hidden_state) const;

private:
    T5Encoder(Context& ctx, const TransformersFolder& folder);

    struct Block {
        Buffer attention_norm;  // layer.0.layer_norm [1, d_model]
        Linear q, k, v, o;
        Buffer ff_norm;         // layer.1.layer_norm
        Linear wi_0, wi_1, wo;  // wi_0 carries gelu_new in its epilogue
    };

    T5Config config_;
    Embedding shared_;
    std::vector<float> relative_attention_bias_;  // [num_buckets, num_heads], block 0's
    std::vector<Block> blocks_;
    Buffer final_norm_;
};

}  // namespace svdq
