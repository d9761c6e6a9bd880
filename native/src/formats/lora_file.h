// A LoRA file as parsed and checked, before it meets a model: each module's
// down [rank, in] and up [out, rank] as float, its alpha, and the key style
// its names follow (diffusers/PEFT, kohya or BFL).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "svdquant.h"

namespace svdq {

enum class LoraKeyStyle : int32_t {
    diffusers = SVDQ_LORA_KEYS_DIFFUSERS,
    kohya = SVDQ_LORA_KEYS_KOHYA,
    bfl = SVDQ_LORA_KEYS_BFL,
};

struct LoraModule {
    std::string name;  // the key prefix in the file, e.g. "transformer.single_transformer_blocks.0.attn.to_q"
    int64_t rank = 0, in_features = 0, out_features = 0;
    float alpha = 0.0f;  // the file's, or rank when alpha_given is false
    bool alpha_given = false;
    std::vector<float> down;  // [rank, in_features] (lora_A / lora_down)
    std::vector<float> up;    // [out_features, rank] (lora_B / lora_up)
    std::string down_key, up_key, alpha_key;  // the file's keys; alpha_key "" without alpha
};

struct LoraFile {
    LoraKeyStyle style = LoraKeyStyle::diffusers;
    std::vector<LoraModule> modules;       // in the file's key order
    std::vector<std::string> unused_keys;  // keys that belong to no module
};

// Errors (svdq::Error) name the file and the key: SVDQ_ERROR_FORMAT (not a
// safetensors file, half a pair, no LoRA keys at all), SHAPE_MISMATCH (down
// and up ranks differ, not 2-D), DTYPE (not F32/F16/BF16), NON_FINITE. A conv
// LoRA (SD UNets) reads as the matrix it multiplies: down [r, in, kh, kw] as
// [r, in * kh * kw], up [out, r, 1, 1] as [out, r].
LoraFile read_lora_file(const std::string& path);

}  // namespace svdq
