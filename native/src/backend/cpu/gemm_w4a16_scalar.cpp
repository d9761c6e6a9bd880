#include <cstddef>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/epilogue.h"
#include "quant/int4.h"

namespace svdq {

void gemm_w4a16_scalar(const GemmW4A16Args& a, const Tile& t) {
    const int64_t groups = a.k / kInt4Group;
    std::vector<float> w(static_cast<size_t>(a.k));
    for (int64_t n = t.n0; n < t.n1; ++n) {
        // Dequantise the weight row once per tile, reuse it for every token.
        const uint8_t* qw = a.qw + n * (a.k / 2);
        for (int64_t j = 0; j < a.k; ++j)
            w[static_cast<size_t>(j)] = static_cast<float>(int4_at(qw, j)) * a.sw[n * groups + j / kInt4Group];
        for (int64_t m = t.m0; m < t.m1; ++m) {
            const float* x = a.x + m * a.k;
            float acc = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) acc += x[j] * w[static_cast<size_t>(j)];
            a.y[m * a.n + n] = epilogue(acc, a.bias, n, a.activation);
        }
    }
}

}  // namespace svdq
