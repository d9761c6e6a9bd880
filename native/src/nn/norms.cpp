#include "nn/norms.h"

#include <cmath>

namespace svdq {

void layer_norm_modulate(const float* x, int64_t rows, int64_t d, const float* scale, const float* shift, float eps,
                         float* out) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * d;
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < d; ++j) mean += xr[j];
        mean /= static_cast<double>(d);
        for (int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
        const float inv = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(d) + eps));
        float* o = out + r * d;
        for (int64_t j = 0; j < d; ++j) o[j] = (xr[j] - static_cast<float>(mean)) * inv * (1.0f + scale[j]) + shift[j];
    }
}

void rms_norm_heads(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* weight, float eps) {
    for (int64_t i = 0; i < rows * heads; ++i) {
        float* h = x + i * head_dim;
        double ss = 0.0;
        for (int64_t j = 0; j < head_dim; ++j) ss += static_cast<double>(h[j]) * h[j];
        const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(head_dim) + eps));
        for (int64_t j = 0; j < head_dim; ++j) h[j] = h[j] * inv * weight[j];
    }
}

}  // namespace svdq
