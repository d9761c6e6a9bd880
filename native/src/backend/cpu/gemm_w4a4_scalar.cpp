#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/epilogue.h"
#include "core/half.h"

namespace svdq {

void gemm_w4a4_scalar(const GemmW4A4Args& a, const Tile& t) {
    const int64_t k = a.w->k, n_total = a.w->n, groups = k / kInt4Group;
    for (int64_t m = t.m0; m < t.m1; ++m) {
        const int8_t* qx = a.qx + m * k;
        const float* sx = a.sx + m * groups;
        for (int64_t n = t.n0; n < t.n1; ++n) {
            const uint8_t* qw = a.w->bytes() + n * (k / 2);
            const uint16_t* sw = a.w->scales.data() + n * groups;
            float acc = 0.0f;
            for (int64_t g = 0; g < groups; ++g) {
                int32_t dot = 0;  // exact: every SIMD path must match it bit for bit
                for (int64_t j = g * kInt4Group; j < (g + 1) * kInt4Group; ++j) dot += qx[j] * int4_at(qw, j);
                acc += static_cast<float>(dot) * (sx[g] * bf16_to_float(sw[g]));
            }
            for (int64_t r = 0; r < a.rank; ++r)
                acc += a.lowrank_act[m * a.rank + r] * bf16_to_float(a.lowrank_up->halves()[n * a.rank + r]);
            finish_store(acc, a.epilogue, m, n, a.y + m * n_total + n);
        }
    }
}

}  // namespace svdq
