// An AWQ-style W4A16 layer as Nunchaku stores FLUX's adaLN modulation
// linears: qweight int32 [N/4, K/2] (quant/awq_packing.h), wscales and wzeros
// [K/64, N], value = q * scale + zero with q unsigned 0..15, and a bias.
//
// Nunchaku also reorders these layers (deepcompressor's
// convert_to_nunchaku_w4x16_linear_weight, adanorm_splits): the C chunks of
// the output (shift, scale, gate [, shift, scale, gate]) are interleaved, so
// row j * C + c of the file is row c * N / C + j of the diffusers layer, and
// 1 is added to the bias of the scale chunks (c = 1 and c = C - 2), because
// AdaLayerNorm computes x * (1 + scale). adanorm_from_nunchaku undoes both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "svdquant.h"

namespace svdq {

struct NunchakuW4A16Linear {
    int64_t out_features = 0;               // N, a multiple of 4
    int64_t in_features = 0;                // K, a multiple of 64
    std::vector<uint8_t> packed;            // [N, K] unsigned nibbles, two per byte, low nibble = even column
    std::vector<float> scales;              // [N, K/64]
    std::vector<float> zeros;               // [N, K/64]
    std::vector<float> bias;                // [N]; empty: none
    int32_t float_dtype = SVDQ_DTYPE_BF16;  // F16 or BF16 in the file

    int64_t groups() const { return in_features / 64; }
    float value(int64_t n, int64_t k) const {
        const int q = (packed[static_cast<size_t>((n * in_features + k) / 2)] >> ((k & 1) * 4)) & 0xF;
        const size_t g = static_cast<size_t>(n * groups() + k / 64);
        return static_cast<float>(q) * scales[g] + zeros[g];
    }
};

// Checks "<prefix>.qweight" (I32), wscales, wzeros and bias; returns {N, K}.
void describe_nunchaku_w4a16_linear(const SafeTensorsFile& file, const std::string& prefix, int64_t* out_features,
                                    int64_t* in_features);

// Reads the layer in file row order.
NunchakuW4A16Linear read_nunchaku_w4a16_linear(const SafeTensorsFile& file, const std::string& prefix);

// Adds the layer's tensors under `prefix` (rows in the order given).
void add_nunchaku_w4a16_linear(SafeTensorsWriter& writer, const std::string& prefix, const NunchakuW4A16Linear& layer);

// Between Nunchaku's adaLN row order with the folded +1 and diffusers' order;
// chunks is 6 (AdaLayerNormZero) or 3 (AdaLayerNormZeroSingle).
NunchakuW4A16Linear adanorm_from_nunchaku(const NunchakuW4A16Linear& layer, int chunks);
NunchakuW4A16Linear adanorm_to_nunchaku(const NunchakuW4A16Linear& layer, int chunks);

}  // namespace svdq
