#include "core/numerics/nvfp4_quant.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "core/numerics/absmax.h"

namespace svdq {

namespace {

// A group's E4M3 scale code and the step it stands for (scale * tensor scale).
float group_step(const float* xg, float tensor_scale, uint8_t& code) {
    code = tensor_scale > 0.0f ? float_to_e4m3(absmax_of(xg, kNvfp4Group) / kE2M1Max / tensor_scale) : 0;
    return e4m3_to_float(code) * tensor_scale;
}

}  // namespace

uint8_t float_to_e4m3(float f) {
    if (std::isnan(f)) return 0x7f;
    const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
    const float v = std::fabs(f);
    if (v >= kE4M3Max) return sign | 0x7e;
    int e2 = 0;
    std::frexp(v, &e2);  // v = fr * 2^e2, fr in [0.5, 1)
    const int exponent = e2 - 1;
    // Below 2^-6 the step is the subnormal one, 2^-9; code 8 (the rounding
    // carry) is then exactly the smallest normal, so codes continue seamlessly.
    if (v == 0.0f || exponent < -6) return sign | static_cast<uint8_t>(std::nearbyint(std::ldexp(v, 9)));
    int mantissa = static_cast<int>(std::nearbyint((std::ldexp(v, -exponent) - 1.0f) * 8.0f));
    int biased = exponent + 7;
    if (mantissa == 8) {
        mantissa = 0;
        ++biased;
    }
    return sign | static_cast<uint8_t>(std::min((biased << 3) | mantissa, 0x7e));
}

uint8_t float_to_e2m1(float f) {
    const float v = std::fabs(f);
    // Midpoints between neighbours, counted branch-free; a tie goes to the
    // even code, hence > before even codes and >= before odd ones.
    const int code = (v > 0.25f) + (v >= 0.75f) + (v > 1.25f) + (v >= 1.75f) + (v > 2.5f) + (v >= 3.5f) + (v > 5.0f);
    return code == 0 ? 0 : static_cast<uint8_t>(code | (f < 0.0f ? 0x8 : 0x0));
}

void quantize_nvfp4_row(const float* x, int64_t k, float tensor_scale, uint8_t* q, uint8_t* scales) {
    for (int64_t g = 0; g < k / kNvfp4Group; ++g) {
        const float* xg = x + g * kNvfp4Group;
        const float step = group_step(xg, tensor_scale, scales[g]);
        const float inv = step > 0.0f ? 1.0f / step : 0.0f;
        uint8_t* qg = q + g * (kNvfp4Group / 2);
        for (int64_t i = 0; i < kNvfp4Group; i += 2)
            qg[i / 2] = static_cast<uint8_t>(float_to_e2m1(xg[i] * inv) | (float_to_e2m1(xg[i + 1] * inv) << 4));
    }
}

void dequantize_nvfp4_row(const uint8_t* q, const uint8_t* scales, int64_t k, float tensor_scale, float* out) {
    for (int64_t g = 0; g < k / kNvfp4Group; ++g) {
        const float step = e4m3_to_float(scales[g]) * tensor_scale;
        for (int64_t j = g * kNvfp4Group; j < (g + 1) * kNvfp4Group; ++j)
            out[j] = e2m1_value((q[j >> 1] >> ((j & 1) * 4)) & 0xf) * step;
    }
}

void fake_quantize_nvfp4_row(const float* x, int64_t k, float tensor_scale, float* out) {
    if (tensor_scale < 0.0f) tensor_scale = nvfp4_tensor_scale(absmax_of(x, k));
    // The same steps as quantize_nvfp4_row, without packing the codes.
    for (int64_t g = 0; g < k / kNvfp4Group; ++g) {
        const float* xg = x + g * kNvfp4Group;
        uint8_t code;
        const float step = group_step(xg, tensor_scale, code);
        const float inv = step > 0.0f ? 1.0f / step : 0.0f;
        for (int64_t i = 0; i < kNvfp4Group; ++i) out[g * kNvfp4Group + i] = e2m1_value(float_to_e2m1(xg[i] * inv)) * step;
    }
}

std::vector<float> Nvfp4Tensor::dequantize() const {
    const Nvfp4Matrix& v = values;
    std::vector<float> out(static_cast<size_t>(v.rows * v.cols));
    for (int64_t r = 0; r < v.rows; ++r)
        dequantize_nvfp4_row(v.packed.data() + r * (v.cols / 2), v.scales.data() + r * v.groups(), v.cols, tensor_scale,
                             out.data() + r * v.cols);
    return out;
}

Nvfp4Tensor quantize_nvfp4(const float* x, int64_t rows, int64_t cols, ThreadPool& pool) {
    Nvfp4Tensor t;
    Nvfp4Matrix& m = t.values;
    m.rows = rows;
    m.cols = cols;
    t.tensor_scale = nvfp4_tensor_scale(absmax_of(x, rows * cols));
    m.packed.resize(static_cast<size_t>(rows * cols / 2));
    m.scales.resize(static_cast<size_t>(rows * m.groups()));
    pool.parallel_for(rows, [&](int64_t r) {
        quantize_nvfp4_row(x + r * cols, cols, t.tensor_scale, m.packed.data() + r * (cols / 2),
                           m.scales.data() + r * m.groups());
    });
    return t;
}

}  // namespace svdq
