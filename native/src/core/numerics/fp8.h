// FP8 to float: E4M3 holds NVFP4's group scales (Nunchaku's `wscales`),
// E5M2 is the other safetensors FP8 dtype.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace svdq {

// E4M3 "fn": bias 7, no infinities; S.1111.111 is NaN, so the largest value is 448.
inline float e4m3_to_float(uint8_t v) {
    const float sign = (v & 0x80u) ? -1.0f : 1.0f;
    const int exponent = (v >> 3) & 0xf;
    const int mantissa = v & 0x7;
    if (exponent == 0xf && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
    if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m/8 * 2^-6
    return sign * std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
}

// E5M2: bias 15, IEEE-like infinities and NaNs.
inline float e5m2_to_float(uint8_t v) {
    const float sign = (v & 0x80u) ? -1.0f : 1.0f;
    const int exponent = (v >> 2) & 0x1f;
    const int mantissa = v & 0x3;
    if (exponent == 0x1f)
        return mantissa == 0 ? sign * std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
    if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -16);  // subnormal: m/4 * 2^-14
    return sign * std::ldexp(static_cast<float>(4 + mantissa), exponent - 17);
}

}  // namespace svdq
