#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/epilogue.h"

namespace svdq {

void gemm_f32_scalar(const GemmF32Args& a, const Tile& t) {
    for (int64_t m = t.m0; m < t.m1; ++m) {
        const float* x = a.x + m * a.k;
        for (int64_t n = t.n0; n < t.n1; ++n) {
            const float* w = a.w + n * a.k;
            float acc = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) acc += x[j] * w[j];
            a.y[m * a.n + n] = epilogue(acc, a.bias, n, a.activation);
        }
    }
}

}  // namespace svdq
