#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "quant/absmax.h"
#include "quant/int4.h"
#include "quant/nvfp4_quant.h"

namespace svdq {

int64_t format_group_size(svdq_weight_format format) { return format == SVDQ_FORMAT_NVFP4 ? kNvfp4Group : kInt4Group; }

void fake_quantize_rows(svdq_weight_format format, const float* x, int64_t rows, int64_t k, bool per_row_tensor_scale,
                        float* out, ThreadPool* pool) {
    float tensor_scale = -1.0f;  // per row
    if (format == SVDQ_FORMAT_NVFP4 && !per_row_tensor_scale) {
        tensor_scale = nvfp4_tensor_scale(absmax_of(x, rows * k));
    }
    const auto row = [&](int64_t r) {
        const float* xr = x + r * k;
        float* yr = out + r * k;
        if (format == SVDQ_FORMAT_NVFP4) {
            fake_quantize_nvfp4_row(xr, k, tensor_scale, yr);
            return;
        }
        for (int64_t g = 0; g < k; g += kInt4Group) {  // quantize_int4_row's levels, dequantized in place
            const float absmax = absmax_of(xr + g, kInt4Group);
            const float inv = absmax > 0.0f ? 7.0f / absmax : 0.0f, scale = int4_scale(absmax);
            for (int64_t i = g; i < g + kInt4Group; ++i) yr[i] = int4_level(xr[i] * inv) * scale;
        }
    };
    if (pool != nullptr)
        pool->parallel_for(rows, row);
    else
        for (int64_t r = 0; r < rows; ++r) row(r);
}

}  // namespace svdq
