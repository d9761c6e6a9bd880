// CLIP text encoder hyper-parameters, read from a transformers config.json
// (CLIPTextConfig, as FLUX's text_encoder/ has it; a full CLIPConfig's
// "text_config" is read too). Defaults are CLIPTextConfig's.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/backend.h"

namespace svdq {

struct ClipTextConfig {
    int64_t vocab_size = 49408;
    int64_t hidden_size = 512;
    int64_t intermediate_size = 2048;
    int64_t num_hidden_layers = 12;
    int64_t num_attention_heads = 8;
    int64_t max_position_embeddings = 77;
    Activation hidden_act = Activation::quick_gelu;  // "quick_gelu", "gelu", "gelu_new" / "gelu_pytorch_tanh"
    double layer_norm_eps = 1e-5;
    int64_t eos_token_id = 49407;  // 2 (CLIP-L's legacy config): the EOS is the largest id

    int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// Validates every field (hidden_size divisible by the heads; an activation
// transformers' CLIP names but the engine lacks is SVDQ_ERROR_UNSUPPORTED);
// errors name `what` and the key.
ClipTextConfig clip_text_config_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace svdq
