// One quantized linear layer as a single Nunchaku-style safetensors file;
// what `svdquant layer quantize` writes and `layer run` reads. Tensors sit
// under "layer.":
// - W4A4 (rtn, smoothquant, lowrank, svdquant), INT4 or NVFP4: Nunchaku's
//   SVDQuant layer with diffusers-style names (qweight, wscales, bias,
//   smooth_factor, smooth_factor_orig, proj_down, proj_up; NVFP4 adds
//   wcscales and wtscale, its wscales being F8_E4M3), N and K padded to 128,
//   and `quantization_config` metadata (models/nunchaku_metadata.h);
// - W4A16, INT4 only: Nunchaku's AWQ layer (qweight I32, wscales, wzeros,
//   bias), N padded to a multiple of 4. No `quantization_config`: it declares
//   W4A4 layers (models/checkpoint_flavour.cpp checks that it does).
// Metadata "svdquant_layer" holds the real out_features, in_features and
// rank, the method, the format and the activation. Float parts are BF16, as
// Nunchaku stores them; the 4-bit values are stored exactly and loaded as
// stored (models/nunchaku_layer_convert.h).
#pragma once

#include <string>

#include "nn/linear.h"

namespace svdq {

class ThreadPool;

constexpr const char* kQuantizedLayerPrefix = "layer";

// w as the quantizer returns it (float weight, smoothing, branch) or as read
// from a file. The file is written through a temporary and renamed, so a
// failure leaves nothing at `path`.
void write_quantized_layer(const std::string& path, const LinearWeights& w, const std::string& method, ThreadPool& pool);

// The layer stored at `path`, its 4-bit values used as stored. Errors
// (SVDQ_ERROR_FORMAT and the reader's) name the file and what is wrong.
LinearWeights read_quantized_layer(const std::string& path);

}  // namespace svdq
