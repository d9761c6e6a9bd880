// transformers' T5EncoderModel, T5 v1.1 (FLUX's text_encoder_2/, T5-XXL): the
// shared embedding without scaling; per block an RMS-normed self-attention
// without 1/sqrt(d) scaling plus the relative position bias of block 0 (shared
// by all blocks) and an RMS-normed gated-GELU (tanh) feed-forward, each added
// to the residual; a final RMS norm.
//
// 4-bit: every block linear W4A16, INT4 in groups of 64, quantized at load
// one layer at a time from the mapped file (peak memory: the quantized model
// plus one float layer), or read as stored from a 4-bit file in Nunchaku's
// W4Linear layout (models/t5/t5_checkpoint.h). The embedding stays in the
// file's dtype.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "models/t5/t5_checkpoint.h"
#include "models/t5/t5_config.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "svdquant.h"

namespace svdq {

class Context;

struct T5LoadOptions {
    svdq_linear_scheme scheme = SVDQ_SCHEME_FLOAT;  // FLOAT, or W4A16: every block linear (q, k, v, o, wi_0, wi_1, wo) quantized to INT4 group 64 at load
};

class T5Encoder {
public:
    // path: a transformers T5EncoderModel folder (config.json and
    // model.safetensors or the shards its model.safetensors.index.json
    // names), or one 4-bit safetensors file: the one save() writes or
    // Nunchaku's AWQ INT4 T5-XXL checkpoint (its config in __metadata__
    // "config", else config.json beside it). A 4-bit file loads as stored
    // whatever options.scheme says (W4A16); options.scheme decides the layers
    // stored float. Errors name the missing tensor, or the tensor with its
    // shape (or dtype) and the one the config needs.
    T5Encoder(Context& ctx, const std::string& path, const T5LoadOptions& options = {});

    const T5Config& config() const { return config_; }
    // W4A16 when any block linear is 4-bit, else FLOAT.
    svdq_linear_scheme scheme() const { return scheme_; }
    uint64_t weight_bytes() const;

    // ids [batch, length] -> last_hidden_state [batch, length, d_model].
    // attention_mask [batch, length] (1: a token, 0: padding no query attends
    // to) may be NULL: every token is attended to, as FLUX calls the encoder.
    // An id outside the vocabulary or a mask value other than 0 and 1 is
    // SVDQ_ERROR_INVALID_ARGUMENT naming it.
    void forward(Context& ctx, const int64_t* ids, int64_t batch, int64_t length, const int64_t* attention_mask,
                 float* last_hidden_state) const;

    // Writes the loaded 4-bit encoder as one safetensors file (W4A16 only,
    // else SVDQ_ERROR_UNSUPPORTED naming why); no partial file on failure.
    // The backend keeps only its own packed form of a layer (and a second
    // copy would double the memory), so each layer's stored values are
    // derived again from the source, still mapped, exactly as loading did:
    // the file holds what runs (write_t5_w4a16_file).
    void save(const std::string& path) const;

private:
    T5Encoder(Context& ctx, std::unique_ptr<const T5Checkpoint> source, const T5LoadOptions& options);

    struct Block {
        Buffer attention_norm;  // layer.0.layer_norm [1, d_model]
        Linear q, k, v, o;
        Buffer ff_norm;         // layer.1.layer_norm
        Linear wi_0, wi_1, wo;  // wi_0 carries gelu_new in its epilogue
    };

    std::unique_ptr<const T5Checkpoint> source_;  // mapped for save(); its pages released after load
    T5LoadOptions options_;
    svdq_linear_scheme scheme_ = SVDQ_SCHEME_FLOAT;
    T5Config config_;
    Embedding shared_;
    std::vector<float> relative_attention_bias_;  // [num_buckets, num_heads], block 0's
    std::vector<Block> blocks_;
    Buffer final_norm_;
};

}  // namespace svdq
