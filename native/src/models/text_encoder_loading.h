// Loading a transformers text encoder as a diffusers pipeline ships it (FLUX's
// text_encoder/ and text_encoder_2/): config.json beside model.safetensors, or
// shards named by model.safetensors.index.json; F32, F16 or BF16 tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/arena.h"
#include "core/linear_weights.h"
#include "formats/safetensors_set.h"
#include "nn/embedding.h"
#include "nn/linear.h"

namespace svdq {

class Context;

struct TransformersFolder {
    std::string config_path;
    nlohmann::json config;
    SafeTensorsSet tensors;
};

// SVDQ_ERROR_IO naming the folder or its config.json when either is missing.
TransformersFolder open_transformers_folder(const std::string& folder);

// A float linear layer's weights (`name`.weight [out, in], `name`.bias [out]
// when `bias`), as float: BF16 values stay exact, and the backend keeps a
// layer whose values are all BF16 values in BF16. The caller picks the scheme
// (FLOAT here; a 4-bit scheme quantizes when the layer is built).
LinearWeights float_linear_weights(const SafeTensorsSet& tensors, const std::string& name, int64_t out, int64_t in, bool bias);

// That layer built in the context's backend (float; `activation` in its epilogue).
Linear float_linear(Context& ctx, const SafeTensorsSet& tensors, const std::string& name, int64_t out, int64_t in, bool bias,
                    svdq_activation activation = SVDQ_ACTIVATION_NONE);

// An embedding table [rows, cols] kept in the dtype the file stores.
Embedding load_embedding(const SafeTensorsSet& tensors, const std::string& name, int64_t rows, int64_t cols);

// A tensor of `shape` ([n]: a [1, n] row; [r, c]) in the context's backend memory.
Buffer load_buffer(Context& ctx, const SafeTensorsSet& tensors, const std::string& name, const std::vector<int64_t>& shape);

}  // namespace svdq
