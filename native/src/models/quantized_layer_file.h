// One quantized linear layer as a single Nunchaku-style safetensors file:
// the tensors of one W4A4 linear under "layer." (diffusers-style names:
// qweight, wscales, bias, smooth_factor, smooth_factor_orig, proj_down,
// proj_up), `quantization_config` metadata, and the layer's real sizes (the
// file pads N and K to 128). What `svdquant layer quantize` writes and
// `layer run` reads.
#pragma once

#include <string>

#include "nn/linear.h"

namespace svdq {

class ThreadPool;

constexpr const char* kQuantizedLayerPrefix = "layer";

// w as the quantizer returns it (float weight, smoothing, branch); INT4 W4A4
// only for now. The file is written through a temporary and renamed, so a
// failure leaves nothing at `path`.
void write_quantized_layer(const std::string& path, const LinearWeights& w, const std::string& method, ThreadPool& pool);

// The layer stored at `path`, its INT4 residual used as stored.
LinearWeights read_quantized_layer(const std::string& path);

}  // namespace svdq
