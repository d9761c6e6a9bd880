// NVFP4 in the engine's canonical layout: E2M1 codes row-major, two per byte
// (low nibble = even column, as INT4), one FP8 E4M3 scale per row per group
// of 16 columns. Value = e2m1(code) * e4m3(scale); Nunchaku layers multiply
// in a per-channel and a per-tensor scale on top (models/nunchaku_linear.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/numerics/fp8.h"

namespace svdq {

constexpr int64_t kNvfp4Group = 16;

// E2M1: sign, 2 exponent bits, 1 mantissa bit; codes 0..7 are
// 0, 0.5, 1, 1.5, 2, 3, 4, 6 and 8..15 their negatives.
inline float e2m1_value(int code) {
    static constexpr float kMagnitude[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    const float m = kMagnitude[code & 7];
    return (code & 8) ? -m : m;
}

struct Nvfp4Matrix {
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<uint8_t> packed;  // rows * cols / 2 codes
    std::vector<uint8_t> scales;  // rows * cols / 16 E4M3 bytes

    int64_t groups() const { return cols / kNvfp4Group; }
    float value(int64_t r, int64_t c) const {
        const int code = (packed[static_cast<size_t>((r * cols + c) / 2)] >> ((c & 1) * 4)) & 0xF;
        return e2m1_value(code) * e4m3_to_float(scales[static_cast<size_t>(r * groups() + c / kNvfp4Group)]);
    }
};

}  // namespace svdq
