// The element-wise end of every GEMM: bias, then the fused activation.
#pragma once

#include <cstdint>

#include "core/numerics/activations.h"
#include "svdquant.h"

namespace svdq {

inline float epilogue(float acc, const float* bias, int64_t n, int32_t activation) {
    if (bias != nullptr) acc += bias[n];
    return activation == SVDQ_ACTIVATION_GELU_TANH ? gelu_tanh(acc) : acc;
}

}  // namespace svdq
