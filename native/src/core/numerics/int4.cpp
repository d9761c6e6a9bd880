#include "core/numerics/int4.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "core/numerics/absmax.h"

namespace svdq {

void quantize_int4_row(const float* x, int64_t k, uint8_t* q, float* scales) {
    for (int64_t g = 0; g < k / kInt4Group; ++g) {
        const float* xg = x + g * kInt4Group;
        const float absmax = absmax_of(xg, kInt4Group);
        // Multiply by 7/absmax rather than divide by the scale: the SIMD
        // kernels do the same, so every path rounds identically.
        const float inv = absmax > 0.0f ? 7.0f / absmax : 0.0f;
        scales[g] = int4_scale(absmax);
        uint8_t* qg = q + g * (kInt4Group / 2);
        for (int64_t i = 0; i < kInt4Group; i += 2) {
            const int lo = static_cast<int>(int4_level(xg[i] * inv));
            const int hi = static_cast<int>(int4_level(xg[i + 1] * inv));
            qg[i / 2] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        }
    }
}

Int4Matrix quantize_int4(const float* x, int64_t rows, int64_t cols, ThreadPool& pool) {
    Int4Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.packed.resize(static_cast<size_t>(rows * cols / 2));
    m.scales.resize(static_cast<size_t>(rows * m.groups()));
    pool.parallel_for(rows, [&](int64_t r) {
        quantize_int4_row(x + r * cols, cols, m.packed.data() + r * (cols / 2), m.scales.data() + r * m.groups());
    });
    return m;
}

}  // namespace svdq
