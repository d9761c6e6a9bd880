// A linear layer's stored form, whatever backend will run it: Y = X W^T +
// bias in one of the engine's schemes (float, W4A16, or W4A4 with optional
// smoothing and low-rank branch), as float tensors or as the 4-bit values a
// file stores. Backends prepare their own packed form from it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/numerics/int4.h"
#include "core/numerics/nvfp4.h"
#include "svdquant.h"

namespace svdq {

class ThreadPool;

// NVFP4 weights as Nunchaku stores them: value = e2m1(code) * e4m3(group
// scale) * channel_scales[row] * tensor_scale.
struct Nvfp4Weights {
    Nvfp4Matrix values;                 // [n, k] E2M1 codes and E4M3 scales per 16
    std::vector<float> channel_scales;  // [n] (`wcscales`); empty: all 1
    float tensor_scale = 1.0f;          // `wtscale`
};

// The layer's parameters as float, already validated; smooth and the
// low-rank factors may be empty.
struct LinearWeights {
    svdq_linear_scheme scheme = SVDQ_SCHEME_FLOAT;
    svdq_activation activation = SVDQ_ACTIVATION_NONE;
    svdq_branch_execution branch_execution = SVDQ_BRANCH_FUSED;
    svdq_number_format format = SVDQ_FORMAT_FLOAT;  // paired with the scheme (core/number_format.h)
    int64_t n = 0, k = 0, rank = 0;
    std::vector<float> weight;  // [n, k]
    std::vector<float> bias;    // [n]
    std::vector<float> smooth;  // [k]
    std::vector<float> up;      // [n, rank]
    std::vector<float> down;    // [rank, k], a factor of weight * smooth
    // From a file: the 4-bit values exactly as stored, used instead of
    // quantizing again (weight is then unused). W4A4: the residual weight *
    // smooth - up down, INT4 in quantized_residual or NVFP4 in
    // nvfp4_residual, with a down factor that already reads the raw input
    // (divided by smooth). INT4 W4A16: the weight in quantized_residual and,
    // when quantized_zeros [n, k/64] is not empty, AWQ's zero points: a value
    // is then (q + 8) * scale + zero (q + 8 = AWQ's unsigned nibble), else q * scale.
    std::optional<Int4Matrix> quantized_residual;
    std::vector<float> quantized_zeros;
    std::optional<Nvfp4Weights> nvfp4_residual;
    bool down_reads_input = false;
    // INT4 W4A4 only: how the quantizer reads X (ActEncoding). Nunchaku's INT4
    // mlp_fc2 layers use input_shift = nunchaku::kGeluShift, unsigned_input:
    // Y = Qu((X + shift) / smooth) R + up down' X + bias, the branch reading
    // the raw X and the file's bias already compensating the shift. The
    // defaults give the plain signed Q(X / smooth).
    float input_shift = 0.0f;
    bool unsigned_input = false;
};

// weight * smooth - up down [n, k]: what a W4A4 layer quantizes.
std::vector<float> smoothed_residual(const LinearWeights& w, ThreadPool& pool);

// down [rank, k] as the layer applies it to the raw input: times 1 / smooth
// (as is when there is no smooth or w.down_reads_input).
std::vector<float> down_reading_input(const LinearWeights& w);

// Validates a C descriptor completely and converts it to LinearWeights.
LinearWeights linear_weights_from_desc(const svdq_linear_desc& desc);

// The checks a backend's prepare relies on: the scheme and format pair, stored
// 4-bit values fit the layer, an input shift or unsigned input only on INT4 W4A4.
void check_linear_weights(const LinearWeights& w);

}  // namespace svdq
