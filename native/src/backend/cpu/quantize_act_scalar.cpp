#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_kernels.h"
#include "core/half.h"

namespace svdq {

void quantize_act_scalar(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* /*scratch*/) {
    const int64_t groups = a.k / kInt4Group;
    const float levels = a.encoding.is_unsigned ? 15.0f : 7.0f;
    const float lowest = a.encoding.is_unsigned ? 0.0f : -8.0f;
    for (int64_t m = row_begin; m < row_end; ++m) {
        const float* x = a.x_row(m);
        for (int64_t r = 0; r < a.rank; ++r) {
            const uint16_t* down = a.down_row(r);
            float acc = 0.0f;
            for (int64_t j = 0; j < a.k; ++j) acc += x[j] * bf16_to_float(down[j]);
            a.lowrank_act[m * a.rank + r] = acc;
        }
        for (int64_t g = 0; g < groups; ++g) {
            float xs[kInt4Group];
            float absmax = 0.0f;
            for (int64_t i = 0; i < kInt4Group; ++i) {
                const int64_t j = g * kInt4Group + i;
                const float shifted = x[j] + a.encoding.shift;  // exact for shift 0: signed results unchanged
                xs[i] = a.inv_smooth ? shifted * a.inv_smooth[j] : shifted;
                absmax = std::max(absmax, std::fabs(xs[i]));
            }
            // Same rounding as quantize_int4_row: multiply by levels / absmax.
            const float inv = absmax > 0.0f ? levels / absmax : 0.0f;
            int8_t* q = a.q_row(m) + g * kInt4Group;
            int32_t sum = 0;
            for (int64_t i = 0; i < kInt4Group; ++i) {
                q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(xs[i] * inv), lowest, levels));
                sum += q[i];
            }
            a.scales_row(m)[g] = absmax / levels;
            a.sums_row(m)[g] = sum;
        }
    }
}

}  // namespace svdq
