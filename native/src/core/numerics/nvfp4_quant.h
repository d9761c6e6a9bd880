// Quantization to NVFP4 (DESIGN.md section 3): E2M1 values in groups of 16
// along K, one FP8 E4M3 scale per group and one fp32 tensor scale on top,
// value = e2m1 * e4m3 * tensor_scale. The codes and group scales use the
// canonical layout of quant/nvfp4.h. The CPU has no FP4 arithmetic: layers
// run it through float emulation, with gemm_nvfp4_reference as the oracle.
#pragma once

#include <cstdint>
#include <vector>

#include "core/numerics/nvfp4.h"

namespace svdq {

class ThreadPool;

constexpr float kE2M1Max = 6.0f;
constexpr float kE4M3Max = 448.0f;

// FP8 E4M3 ("fn": bias 7, no infinities, 0x7f NaN) nearest to f, ties to
// even, saturating at +-448. quant/fp8.h decodes.
uint8_t float_to_e4m3(float f);

// E2M1 code (sign in bit 3) nearest to f, ties to the even code, saturating at +-6.
uint8_t float_to_e2m1(float f);

// The tensor scale that maps absmax onto the largest E2M1 value times the
// largest E4M3 scale; 0 for an all-zero tensor.
inline float nvfp4_tensor_scale(float absmax) { return absmax / (kE2M1Max * kE4M3Max); }

// One row of K values (K a multiple of 16) under `tensor_scale`: q gets K/2
// bytes, scales K/16 E4M3 codes.
void quantize_nvfp4_row(const float* x, int64_t k, float tensor_scale, uint8_t* q, uint8_t* scales);
void dequantize_nvfp4_row(const uint8_t* q, const uint8_t* scales, int64_t k, float tensor_scale, float* out);

// Quantize then dequantize one row; tensor_scale < 0 takes the row's own
// (activations: one tensor scale per token).
void fake_quantize_nvfp4_row(const float* x, int64_t k, float tensor_scale, float* out);

struct Nvfp4Tensor {
    Nvfp4Matrix values;       // codes and E4M3 group scales
    float tensor_scale = 0.0f;

    std::vector<float> dequantize() const;
};

// One tensor scale for the whole matrix, from its absmax.
Nvfp4Tensor quantize_nvfp4(const float* x, int64_t rows, int64_t cols, ThreadPool& pool);

}  // namespace svdq
