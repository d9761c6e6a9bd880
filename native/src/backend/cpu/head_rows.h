// One head's q/k RMS norm and RoPE: the CPU backend's rms_norm_heads and
// rope, and the QKV GEMM's head stage (cpu_ops.cpp), which must give their
// bits.
#pragma once

#include <cmath>
#include <cstdint>

namespace svdq {

// v[j] = v[j] / rms(v) * weight[j] over one head; the mean of squares in double.
inline void rms_norm_head(float* v, const float* weight, int64_t head_dim, float eps) {
    double ss = 0.0;
    for (int64_t j = 0; j < head_dim; ++j) ss += static_cast<double>(v[j]) * v[j];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(head_dim) + eps));
    for (int64_t j = 0; j < head_dim; ++j) v[j] = v[j] * inv * weight[j];
}

// Interleaved pairs (v[2i], v[2i+1]) of one head rotated by the angles of one
// row of cos and sin (each pair's value repeated).
inline void rope_head(float* v, const float* cos, const float* sin, int64_t head_dim) {
    for (int64_t j = 0; j < head_dim; j += 2) {
        const float a = v[j], b = v[j + 1];
        v[j] = a * cos[j] - b * sin[j];
        v[j + 1] = b * cos[j + 1] + a * sin[j + 1];
    }
}

}  // namespace svdq
