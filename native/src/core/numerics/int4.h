// INT4 group quantization, the canonical layout every backend starts from:
// row-major, two signed nibbles per byte (low nibble = even column), one fp32
// scale per row per group of 64 along K, scale = absmax / 7 (rounded to BF16), values rounded
// to nearest-even and clamped to -8..7.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/half.h"

namespace svdq {

class ThreadPool;

constexpr int64_t kInt4Group = 64;

// A group's scale, absmax / 7 rounded to BF16: what checkpoints store and
// the kernels keep in memory, so a layer quantized here is the one a file
// reloads. Levels still come from 7 / absmax (see int4_level).
inline float int4_scale(float absmax) { return round_to_bf16(absmax / 7.0f); }

// The level of v = x * (7 / absmax): rounded half to even, as nearbyint does
// in the default rounding mode, but without its libm call on baseline x86-64
// (adding 1.5 * 2^23 leaves no fraction bits; exact for |v| < 2^22).
inline float int4_level(float v) {
    const float rounded = (v + 12582912.0f) - 12582912.0f;
    return std::clamp(rounded, -8.0f, 7.0f);
}

// Unpacks the signed nibble for column k of a packed row.
inline int int4_at(const uint8_t* row, int64_t k) {
    const int nibble = (row[k >> 1] >> ((k & 1) * 4)) & 0xF;
    return nibble >= 8 ? nibble - 16 : nibble;
}

// Quantizes one row of K values (K a multiple of 64): q gets K/2 bytes,
// scales K/64 floats. A group of zeros gets scale 0 and zero nibbles.
void quantize_int4_row(const float* x, int64_t k, uint8_t* q, float* scales);

// Quantized matrix [rows, cols] in the canonical layout.
struct Int4Matrix {
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<uint8_t> packed;  // rows * cols / 2
    std::vector<float> scales;    // rows * cols / 64

    int64_t groups() const { return cols / kInt4Group; }
    const uint8_t* row(int64_t r) const { return packed.data() + r * (cols / 2); }
    const float* row_scales(int64_t r) const { return scales.data() + r * groups(); }
    float value(int64_t r, int64_t c) const { return static_cast<float>(int4_at(row(r), c)) * row_scales(r)[c / kInt4Group]; }
};

Int4Matrix quantize_int4(const float* x, int64_t rows, int64_t cols, ThreadPool& pool);

}  // namespace svdq
