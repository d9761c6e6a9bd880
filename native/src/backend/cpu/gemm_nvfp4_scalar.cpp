#include "backend/cpu/gemm_nvfp4_scalar.h"

namespace svdq {

namespace {

int doubled_e2m1(const Nvfp4Matrix& m, int64_t r, int64_t j) {
    return static_cast<int>(2.0f * e2m1_value((m.packed[static_cast<size_t>((r * m.cols + j) / 2)] >> ((j & 1) * 4)) & 0xf));
}

float group_scale(const Nvfp4Matrix& m, int64_t r, int64_t g) { return e4m3_to_float(m.scales[static_cast<size_t>(r * m.groups() + g)]); }

}  // namespace

void gemm_nvfp4_reference(const Nvfp4Tensor& x, const float* x_tensor_scales, const Nvfp4Tensor& w, float* y) {
    const Nvfp4Matrix& a = x.values;
    const Nvfp4Matrix& b = w.values;
    for (int64_t i = 0; i < a.rows; ++i) {
        const float tx = x_tensor_scales ? x_tensor_scales[i] : x.tensor_scale;
        for (int64_t o = 0; o < b.rows; ++o) {
            float acc = 0.0f;
            for (int64_t g = 0; g < a.groups(); ++g) {
                int32_t dot = 0;
                for (int64_t j = g * kNvfp4Group; j < (g + 1) * kNvfp4Group; ++j) dot += doubled_e2m1(a, i, j) * doubled_e2m1(b, o, j);
                acc += static_cast<float>(dot) * 0.25f * group_scale(a, i, g) * group_scale(b, o, g);
            }
            y[i * b.rows + o] = acc * tx * w.tensor_scale;
        }
    }
}

}  // namespace svdq
