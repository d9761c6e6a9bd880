#include <cstddef>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "quant/int4.h"

namespace svdq {

void quantize_act_scalar(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end) {
    std::vector<float> smoothed(static_cast<size_t>(a.k));
    for (int64_t m = row_begin; m < row_end; ++m) {
        const float* x = a.x + m * a.k;
        for (int64_t r = 0; r < a.rank; ++r) {
            const float* down = a.lowrank_down + r * a.k;
            float acc = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) acc += x[j] * down[j];
            a.lowrank_act[m * a.rank + r] = acc;
        }
        const float* src = x;
        if (a.inv_smooth != nullptr) {
            for (int64_t j = 0; j < a.k; ++j) smoothed[static_cast<size_t>(j)] = x[j] * a.inv_smooth[j];
            src = smoothed.data();
        }
        quantize_int4_row(src, a.k, a.q + m * (a.k / 2), a.scales + m * (a.k / kInt4Group));
    }
}

}  // namespace svdq
