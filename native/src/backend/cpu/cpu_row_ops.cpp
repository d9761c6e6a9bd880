// The CPU backend's row-wise ops: norms, RoPE and element-wise updates, on
// views with any row stride.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/head_rows.h"
#include "backend/cpu/layer_norm_rows.h"

namespace svdq {

void CpuBackend::layer_norm_modulate(const TensorView& x, const TensorView& scale, const TensorView& shift, float eps,
                                     const TensorView& out) {
    layer_norm_rows(x, eps, out, [&](int64_t j, float n) { return n * (1.0f + scale.data[j]) + shift.data[j]; });
}

void CpuBackend::rms_norm_heads(const TensorView& x, const TensorView& weight, float eps) {
    const int64_t head_dim = weight.cols, heads = x.cols / head_dim;
    for (int64_t r = 0; r < x.rows; ++r)
        for (int64_t h = 0; h < heads; ++h) rms_norm_head(x.data + r * x.row_stride + h * head_dim, weight.data, head_dim, eps);
}

void CpuBackend::rope(const TensorView& x, const TensorView& cos, const TensorView& sin) {
    const int64_t dim = cos.cols, heads = x.cols / dim;
    for (int64_t s = 0; s < x.rows; ++s)
        for (int64_t h = 0; h < heads; ++h)
            rope_head(x.data + s * x.row_stride + h * dim, cos.data + s * cos.row_stride, sin.data + s * sin.row_stride, dim);
}

void CpuBackend::silu(const TensorView& x) {
    for (int64_t r = 0; r < x.rows; ++r) {
        float* row = x.data + r * x.row_stride;
        for (int64_t j = 0; j < x.cols; ++j) row[j] = row[j] / (1.0f + std::exp(-row[j]));
    }
}

void CpuBackend::add(const TensorView& x, const TensorView& update) {
    for (int64_t r = 0; r < x.rows; ++r) {
        float* row = x.data + r * x.row_stride;
        const float* u = update.data + r * update.row_stride;
        for (int64_t j = 0; j < x.cols; ++j) row[j] += u[j];
    }
}

void CpuBackend::gated_add(const TensorView& x, const TensorView& update, const TensorView& gate) {
    for (int64_t r = 0; r < x.rows; ++r) {
        float* row = x.data + r * x.row_stride;
        const float* u = update.data + r * update.row_stride;
        for (int64_t j = 0; j < x.cols; ++j) row[j] += gate.data[j] * u[j];
    }
}

}  // namespace svdq
