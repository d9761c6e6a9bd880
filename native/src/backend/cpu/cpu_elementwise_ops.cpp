// The CPU backend's ops for the text encoders: affine LayerNorm, element-wise
// activations and products, on views with any row stride.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/layer_norm_rows.h"
#include "core/numerics/activations.h"

namespace svdq {

void CpuBackend::layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, float eps,
                            const TensorView& out) {
    layer_norm_rows(x, eps, out, [&](int64_t j, float n) { return n * weight.data[j] + bias.data[j]; });
}

void CpuBackend::activate(const TensorView& x, Activation activation) {
    for (int64_t r = 0; r < x.rows; ++r) {
        float* row = x.data + r * x.row_stride;
        for (int64_t j = 0; j < x.cols; ++j) {
            const float v = row[j];
            switch (activation) {
                case Activation::gelu_erf: row[j] = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); break;
                case Activation::gelu_tanh: row[j] = gelu_tanh(v); break;
                case Activation::quick_gelu: row[j] = v / (1.0f + std::exp(-1.702f * v)); break;
            }
        }
    }
}

void CpuBackend::multiply(const TensorView& x, const TensorView& other) {
    for (int64_t r = 0; r < x.rows; ++r) {
        float* row = x.data + r * x.row_stride;
        const float* o = other.data + r * other.row_stride;
        for (int64_t j = 0; j < x.cols; ++j) row[j] *= o[j];
    }
}

}  // namespace svdq
