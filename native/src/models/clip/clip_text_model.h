// transformers' CLIPTextModel (FLUX's text_encoder/, CLIP-L): token plus
// absolute position embeddings, pre-LN layers with causal self-attention
// (q scaled by head_dim^-0.5) and an MLP with the config's activation, a
// final LayerNorm; pooled = the final state at the EOS position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "models/clip/clip_config.h"
#include "models/text_encoder_loading.h"
#include "nn/embedding.h"
#include "nn/linear.h"

namespace svdq {

class Context;

// The EOS position of each of `batch` rows of `length` ids, as transformers
// picks it: with eos_token_id 2 (CLIP-L's legacy config) the first position
// of the largest id; otherwise the first position whose id is eos_token_id,
// or 0 when none is.
std::vector<int64_t> clip_eos_positions(const int64_t* ids, int64_t batch, int64_t length, int64_t eos_token_id);

class ClipTextModel {
public:
    // `folder`: config.json and model.safetensors (or shards with their index)
    // with CLIPTextModel's key names (text_model.*). Errors name the missing
    // tensor, or the tensor with its shape and the shape the config needs.
    ClipTextModel(Context& ctx, const std::string& folder);

    const ClipTextConfig& config() const { return config_; }
    uint64_t weight_bytes() const;

    // ids [batch, length], length <= max_position_embeddings; writes
    // last_hidden_state [batch, length, hidden_size] and pooled [batch,
    // hidden_size] (either may be NULL). An id outside the vocabulary is
    // SVDQ_ERROR_INVALID_ARGUMENT naming it.
    void forward(Context& ctx, const int64_t* ids, int64_t batch, int64_t length, float* last_hidden_state,
                 float* pooled) const;

private:
    ClipTextModel(Context& ctx, const TransformersFolder& folder);

    struct Layer {
        Buffer norm1_weight, norm1_bias;
        Linear q, k, v, out;
        Buffer norm2_weight, norm2_bias;
        Linear fc1, fc2;
    };

    ClipTextConfig config_;
    Embedding token_embedding_;
    Buffer position_embedding_;  // [max_position_embeddings, hidden_size]
    std::vector<Layer> layers_;
    Buffer final_norm_weight_, final_norm_bias_;
};

}  // namespace svdq
