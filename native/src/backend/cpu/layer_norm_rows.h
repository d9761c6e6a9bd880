// The CPU backend's LayerNorm loop, shared by its LayerNorm ops: each row's
// mean and 1 / sqrt(biased variance + eps) accumulated in double, then
// out[j] = affine(j, (x[j] - mean) * inv_std).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/tensor_view.h"

namespace svdq {

template <class Affine>
void layer_norm_rows(const TensorView& x, float eps, const TensorView& out, Affine affine) {
    const int64_t d = x.cols;
    for (int64_t r = 0; r < x.rows; ++r) {
        const float* xr = x.data + r * x.row_stride;
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < d; ++j) mean += xr[j];
        mean /= static_cast<double>(d);
        for (int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
        const float inv = static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(d) + eps));
        float* o = out.data + r * out.row_stride;
        for (int64_t j = 0; j < d; ++j) o[j] = affine(j, (xr[j] - static_cast<float>(mean)) * inv);
    }
}

}  // namespace svdq
