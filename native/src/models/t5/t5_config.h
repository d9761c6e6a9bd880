// T5 encoder hyper-parameters, read from a transformers config.json
// (T5Config, as FLUX's text_encoder_2/ has it: T5 v1.1 XXL). Defaults are
// T5Config's; only the v1.1 feed-forward ("gated-gelu") is supported.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace svdq {

struct T5Config {
    int64_t vocab_size = 32128;
    int64_t d_model = 512;
    int64_t d_kv = 64;
    int64_t d_ff = 2048;
    int64_t num_layers = 6;
    int64_t num_heads = 8;
    int64_t relative_attention_num_buckets = 32;
    int64_t relative_attention_max_distance = 128;
    double layer_norm_epsilon = 1e-6;

    int64_t inner_dim() const { return num_heads * d_kv; }  // the attention width, not always d_model
};

// Validates every field: "feed_forward_proj" must be "gated-gelu" (another is
// SVDQ_ERROR_UNSUPPORTED naming it), the buckets must leave a logarithmic
// range (num_buckets >= 4, max_distance > num_buckets / 4); errors name
// `what` and the key.
T5Config t5_config_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace svdq
