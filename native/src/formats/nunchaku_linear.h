// One SVDQuant W4A4 layer of a Nunchaku checkpoint, converted between the
// file (padded, permuted into Nunchaku's MMA order, 16-bit floats; see
// quant/nunchaku_packing.h) and the engine's canonical layout (row-major,
// fp32 values). Reading then writing a layer reproduces the file's tensors
// bit for bit; writing then reading reproduces the layer exactly when its
// float values are representable in the file's 16-bit dtype.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "formats/nunchaku_flux_layout.h"
#include "core/numerics/int4.h"
#include "core/numerics/nvfp4.h"
#include "svdquant.h"

namespace svdq {

// What a W4A4 layer's tensors declare, checked without decoding any data.
struct NunchakuLinearShape {
    svdq_number_format format = SVDQ_FORMAT_INT4;
    nunchaku::Keys keys = nunchaku::Keys::V0;
    int64_t out_features = 0;  // N as stored: a multiple of 128
    int64_t in_features = 0;   // K as stored: a multiple of 128
    int64_t rank = 0;          // as stored: a multiple of 16; 0 without a low-rank branch
    int32_t float_dtype = SVDQ_DTYPE_BF16;  // dtype of smooth, bias, branch (and INT4 scales)
};

struct NunchakuLinear {
    svdq_number_format format = SVDQ_FORMAT_INT4;  // INT4 or NVFP4
    int64_t out_features = 0;                 // N
    int64_t in_features = 0;                  // K
    int64_t rank = 0;                         // r; 0 without a low-rank branch
    Int4Matrix int4;                          // INT4: [N, K] values and fp32 scales per 64
    Nvfp4Matrix nvfp4;                        // NVFP4: [N, K] E2M1 codes and E4M3 scales per 16
    std::vector<float> channel_scales;        // NVFP4 `wcscales` [N]; empty: all 1
    float tensor_scale = 1.0f;                // NVFP4 `wtscale`: w = e2m1 * e4m3 * wcscales[n] * wtscale
    std::vector<float> bias;                  // [N]; empty: none
    std::vector<float> smooth;                // [K]: the input is divided by it before quantization
    std::vector<float> smooth_orig;           // [K]; empty: same as smooth (see nunchaku_flux_layout.h)
    std::vector<float> lora_down;             // [r, K]: reads the layer input as it arrives (not smoothed)
    std::vector<float> lora_up;               // [N, r]
    int32_t float_dtype = SVDQ_DTYPE_BF16;    // F16 or BF16: how the file stores the float tensors
};

// Finds "<prefix>.qweight" and its companions in either key style and checks
// their presence, dtypes and shapes; errors name the file and the tensor.
NunchakuLinearShape describe_nunchaku_linear(const SafeTensorsFile& file, const std::string& prefix);

// Reads the layer at its stored (padded) sizes.
NunchakuLinear read_nunchaku_linear(const SafeTensorsFile& file, const std::string& prefix);

// The layer cut to the model's real sizes (rank < 0 keeps the stored rank).
NunchakuLinear crop_nunchaku_linear(const NunchakuLinear& layer, int64_t out_features, int64_t in_features,
                                    int64_t rank = -1);

// Adds the layer's tensors, padded and packed as Nunchaku stores them, under
// `prefix` with the names of `keys`. The writer keeps its own copies.
void add_nunchaku_linear(SafeTensorsWriter& writer, const std::string& prefix, const NunchakuLinear& layer,
                         nunchaku::Keys keys);

}  // namespace svdq
