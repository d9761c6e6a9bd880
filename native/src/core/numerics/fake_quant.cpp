#include "core/numerics/fake_quant.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "core/numerics/absmax.h"
#include "core/numerics/int4.h"
#include "core/numerics/nvfp4_quant.h"

namespace svdq {

namespace {

// quantize_int4_row's levels for one group, dequantized; in place is fine.
void fake_quantize_int4_group(const float* x, float* y) {
    const float absmax = absmax_of(x, kInt4Group);
    const float inv = absmax > 0.0f ? 7.0f / absmax : 0.0f, scale = int4_scale(absmax);
#if SVDQ_HAVE_SSE2
    // int4_level's steps, four at a time (the same float operations, so the same values).
    const __m128 vinv = _mm_set1_ps(inv), vscale = _mm_set1_ps(scale), magic = _mm_set1_ps(12582912.0f);
    const __m128 lo = _mm_set1_ps(-8.0f), hi = _mm_set1_ps(7.0f);
    for (int64_t i = 0; i < kInt4Group; i += 4) {
        const __m128 rounded = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x + i), vinv), magic), magic);
        _mm_storeu_ps(y + i, _mm_mul_ps(_mm_min_ps(_mm_max_ps(rounded, lo), hi), vscale));
    }
#else
    for (int64_t i = 0; i < kInt4Group; ++i) y[i] = int4_level(x[i] * inv) * scale;
#endif
}

}  // namespace

int64_t format_group_size(svdq_number_format format) { return format == SVDQ_FORMAT_NVFP4 ? kNvfp4Group : kInt4Group; }

void fake_quantize_rows(svdq_number_format format, const float* x, int64_t rows, int64_t k, bool per_row_tensor_scale,
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
        for (int64_t g = 0; g < k; g += kInt4Group) fake_quantize_int4_group(xr + g, yr + g);
    };
    if (pool != nullptr)
        pool->parallel_for(rows, row);
    else
        for (int64_t r = 0; r < rows; ++r) row(r);
}

}  // namespace svdq
