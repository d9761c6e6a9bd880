#include "models/t5/t5_config.h"

#include "core/error.h"
#include "models/config_fields.h"

namespace svdq {

T5Config t5_config_from_json(const nlohmann::json& j, const std::string& what) {
    require(j.is_object(), SVDQ_ERROR_FORMAT, what + ": expected a JSON object");
    T5Config c;
    c.vocab_size = config_positive(j, "vocab_size", c.vocab_size, what);
    c.d_model = config_positive(j, "d_model", c.d_model, what);
    c.d_kv = config_positive(j, "d_kv", c.d_kv, what);
    c.d_ff = config_positive(j, "d_ff", c.d_ff, what);
    c.num_layers = config_positive(j, "num_layers", c.num_layers, what);
    c.num_heads = config_positive(j, "num_heads", c.num_heads, what);
    c.relative_attention_num_buckets = config_positive(j, "relative_attention_num_buckets", c.relative_attention_num_buckets, what);
    c.relative_attention_max_distance =
        config_positive(j, "relative_attention_max_distance", c.relative_attention_max_distance, what);
    c.layer_norm_epsilon = config_positive_number(j, "layer_norm_epsilon", c.layer_norm_epsilon, what);
    const std::string ff = config_string(j, "feed_forward_proj", "relu", what);
    require(ff == "gated-gelu", SVDQ_ERROR_UNSUPPORTED,
            what + ": \"feed_forward_proj\" \"" + ff + "\" is not supported (T5 v1.1's \"gated-gelu\" is)");
    // Bidirectional buckets: half per direction, half of those exact.
    const int64_t max_exact = c.relative_attention_num_buckets / 4;
    require(max_exact >= 1 && c.relative_attention_max_distance > max_exact, SVDQ_ERROR_FORMAT,
            what + ": relative_attention_num_buckets " + std::to_string(c.relative_attention_num_buckets) +
                " must be at least 4 and relative_attention_max_distance " + std::to_string(c.relative_attention_max_distance) +
                " above a quarter of it");
    return c;
}

}  // namespace svdq
