// Helpers for the checkpoint-format tests and fixtures: values that survive
// a trip through BF16 unchanged, and random layers; temporary paths.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_w4a16_linear.h"
#include "temp_path.h"

namespace svdq::test {

// Uniform values in [lo, hi) rounded to BF16.
inline std::vector<float> bf16_values(int64_t count, float lo, float hi, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(count));
    for (float& x : v) x = round_to_bf16(dist(rng));
    return v;
}

inline std::vector<uint8_t> random_bytes(int64_t count, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> dist(0, 255);
    std::vector<uint8_t> v(static_cast<size_t>(count));
    for (uint8_t& b : v) b = static_cast<uint8_t>(dist(rng));
    return v;
}

// Random positive E4M3 bytes that are not NaN.
inline std::vector<uint8_t> e4m3_scales(int64_t count, uint64_t seed) {
    std::vector<uint8_t> v = random_bytes(count, seed);
    for (uint8_t& b : v) b = static_cast<uint8_t>(b & 0x77);  // exponent <= 14: finite
    return v;
}

// A W4A4 layer of random values that BF16 stores exactly.
inline NunchakuLinear random_nunchaku_linear(svdq_number_format format, int64_t n, int64_t k, int64_t rank, uint64_t seed) {
    NunchakuLinear l;
    l.format = format;
    l.out_features = n;
    l.in_features = k;
    l.rank = rank;
    if (format == SVDQ_FORMAT_INT4) {
        l.int4 = {n, k, random_bytes(n * k / 2, seed), bf16_values(n * k / 64, 0.01f, 0.2f, seed + 1)};
    } else {
        l.nvfp4 = {n, k, random_bytes(n * k / 2, seed), e4m3_scales(n * k / 16, seed + 1)};
        l.channel_scales = bf16_values(n, 0.5f, 2, seed + 7);
        l.tensor_scale = 0.37f;  // not a BF16 value: the writer keeps it in F32
    }
    l.bias = bf16_values(n, -1, 1, seed + 2);
    l.smooth = bf16_values(k, 0.5f, 4, seed + 3);
    l.smooth_orig = bf16_values(k, 0.5f, 4, seed + 4);
    l.lora_down = bf16_values(rank * k, -1, 1, seed + 5);
    l.lora_up = bf16_values(n * rank, -1, 1, seed + 6);
    return l;
}

// An AWQ W4A16 layer of random values that BF16 stores exactly.
inline NunchakuW4A16Linear random_w4a16_linear(int64_t n, int64_t k, uint64_t seed) {
    NunchakuW4A16Linear l;
    l.out_features = n;
    l.in_features = k;
    l.packed = random_bytes(n * k / 2, seed);
    l.scales = bf16_values(n * k / 64, 0.01f, 0.1f, seed + 1);
    l.zeros = bf16_values(n * k / 64, -0.7f, -0.07f, seed + 2);
    l.bias = bf16_values(n, -1, 1, seed + 3);
    return l;
}

}  // namespace svdq::test
