#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/epilogue.h"

namespace svdq {

void gemm_f32_scalar(const GemmFloatArgs& a, const Tile& t) {
    const int64_t k = a.w->k, n_total = a.w->n;
    for (int64_t m = t.m0; m < t.m1; ++m) {
        const float* x = a.x + m * k;
        for (int64_t n = t.n0; n < t.n1; ++n) {
            const float* w = a.w->floats() + n * k;
            float acc = 0.0f;
            for (int64_t j = 0; j < k; ++j) acc += x[j] * w[j];
            a.y[m * n_total + n] = epilogue(acc, a.bias, n, a.activation);
        }
    }
}

}  // namespace svdq
