// The element-wise end of every GEMM: bias, then the fused activation.
#pragma once

#include <cmath>
#include <cstdint>

#include "svdquant.h"

namespace svdq {

// GELU, tanh approximation (FLUX's MLP uses it).
inline float gelu_tanh(float v) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
}

inline float epilogue(float acc, const float* bias, int64_t n, int32_t activation) {
    if (bias != nullptr) acc += bias[n];
    return activation == SVDQ_ACTIVATION_GELU_TANH ? gelu_tanh(acc) : acc;
}

}  // namespace svdq
