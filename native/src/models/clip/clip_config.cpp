#include "models/clip/clip_config.h"

#include "core/error.h"
#include "models/config_fields.h"

namespace svdq {

namespace {

Activation activation_named(const std::string& name, const std::string& what) {
    if (name == "quick_gelu") return Activation::quick_gelu;
    if (name == "gelu") return Activation::gelu_erf;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::gelu_tanh;
    fail(SVDQ_ERROR_UNSUPPORTED, what + ": \"hidden_act\" \"" + name +
                                     "\" is not supported (quick_gelu, gelu, gelu_new and gelu_pytorch_tanh are)");
}

}  // namespace

ClipTextConfig clip_text_config_from_json(const nlohmann::json& json, const std::string& what) {
    require(json.is_object(), SVDQ_ERROR_FORMAT, what + ": expected a JSON object");
    const nlohmann::json& j = json.contains("text_config") && json["text_config"].is_object() ? json["text_config"] : json;
    ClipTextConfig c;
    c.vocab_size = config_positive(j, "vocab_size", c.vocab_size, what);
    c.hidden_size = config_positive(j, "hidden_size", c.hidden_size, what);
    c.intermediate_size = config_positive(j, "intermediate_size", c.intermediate_size, what);
    c.num_hidden_layers = config_positive(j, "num_hidden_layers", c.num_hidden_layers, what);
    c.num_attention_heads = config_positive(j, "num_attention_heads", c.num_attention_heads, what);
    c.max_position_embeddings = config_positive(j, "max_position_embeddings", c.max_position_embeddings, what);
    c.hidden_act = activation_named(config_string(j, "hidden_act", "quick_gelu", what), what);
    c.layer_norm_eps = config_positive_number(j, "layer_norm_eps", c.layer_norm_eps, what);
    if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
        require(j["eos_token_id"].is_number_integer() && j["eos_token_id"].get<int64_t>() >= 0, SVDQ_ERROR_FORMAT,
                what + ": \"eos_token_id\" must be a non-negative integer, got " + j["eos_token_id"].dump());
        c.eos_token_id = j["eos_token_id"].get<int64_t>();
    }
    require(c.hidden_size % c.num_attention_heads == 0, SVDQ_ERROR_FORMAT,
            what + ": hidden_size " + std::to_string(c.hidden_size) + " is not divisible by num_attention_heads " +
                std::to_string(c.num_attention_heads));
    return c;
}

}  // namespace svdq
