#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "quant/int4.h"
#include "quant/nvfp4_quant.h"

namespace svdq {

int64_t format_group_size(svdq_weight_format format) { return format == SVDQ_FORMAT_NVFP4 ? kNvfp4Group : kInt4Group; }

void fake_quantize_rows(svdq_weight_format format, const float* x, int64_t rows, int64_t k, bool per_row_tensor_scale,
                        float* out, ThreadPool* pool) {
    float tensor_scale = -1.0f;  // per row
    if (format == SVDQ_FORMAT_NVFP4 && !per_row_tensor_scale) {
        float absmax = 0.0f;
        for (int64_t i = 0; i < rows * k; ++i) absmax = std::max(absmax, std::fabs(x[i]));
        tensor_scale = nvfp4_tensor_scale(absmax);
    }
    const auto row = [&](int64_t r) {
        const float* xr = x + r * k;
        float* yr = out + r * k;
        if (format == SVDQ_FORMAT_NVFP4) {
            fake_quantize_nvfp4_row(xr, k, tensor_scale, yr);
            return;
        }
        std::vector<uint8_t> q(static_cast<size_t>(k / 2));
        std::vector<float> scales(static_cast<size_t>(k / kInt4Group));
        quantize_int4_row(xr, k, q.data(), scales.data());
        for (int64_t j = 0; j < k; ++j) yr[j] = static_cast<float>(int4_at(q.data(), j)) * scales[static_cast<size_t>(j / kInt4Group)];
    };
    if (pool != nullptr)
        pool->parallel_for(rows, row);
    else
        for (int64_t r = 0; r < rows; ++r) row(r);
}

}  // namespace svdq
