// The element-wise end of every GEMM at the scalar level: the Epilogue
// chain (cpu_kernels.h) on one finished value. The SIMD levels' finish_store
// (simd_avx2.h) runs the same float operations per lane.
#pragma once

#include <cstdint>

#include "backend/cpu/cpu_kernels.h"
#include "core/numerics/activations.h"
#include "svdquant.h"

namespace svdq {

inline float apply_activation(float v, int32_t activation) { return activation == SVDQ_ACTIVATION_GELU_TANH ? gelu_tanh(v) : v; }

// Row i, column j's value acc through the chain; y points at y[i, j].
inline void finish_store(float acc, const Epilogue& e, int64_t i, int64_t j, float* y) {
    if (e.bias != nullptr) acc += e.bias[j];
    acc = apply_activation(acc, e.activation);
    if (e.addend != nullptr) acc += e.addend[i * e.addend_stride + j];
    if (e.residual != nullptr)
        e.residual[i * e.residual_stride + j] += e.gate[j] * acc;
    else
        *y = acc;
}

}  // namespace svdq
