#include <cstddef>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/epilogue.h"
#include "core/half.h"

namespace svdq {

// The dequantised weight row.
size_t gemm_w4a16_scalar_scratch(const GemmFloatArgs& a) { return static_cast<size_t>(a.w->k); }

void gemm_w4a16_scalar(const GemmFloatArgs& a, const Tile& t, float* w) {
    const int64_t k = a.w->k, n_total = a.w->n, groups = k / kInt4Group;
    for (int64_t n = t.n0; n < t.n1; ++n) {
        // Dequantise the weight row once per tile, reuse it for every token.
        const uint8_t* qw = a.w->bytes() + n * (k / 2);
        const uint16_t* scales = a.w->scales.data() + n * groups;
        const uint16_t* zeros = a.w->zeros.empty() ? nullptr : a.w->zeros.data() + n * groups;
        for (int64_t j = 0; j < k; ++j) {
            const int64_t g = j / kInt4Group;
            const float scale = bf16_to_float(scales[g]);
            w[j] = zeros ? static_cast<float>(int4_at(qw, j) + 8) * scale + bf16_to_float(zeros[g])
                                              : static_cast<float>(int4_at(qw, j)) * scale;
        }
        for (int64_t m = t.m0; m < t.m1; ++m) {
            const float* x = a.x + m * k;
            float acc = 0.0f;
            for (int64_t j = 0; j < k; ++j) acc += x[j] * w[j];
            finish_store(acc, a.epilogue, m, n, a.y + m * n_total + n);
        }
    }
}

}  // namespace svdq
