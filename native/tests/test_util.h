// Shared helpers for the native tests: seeded random data and float64
// reference math that the engine's kernels are checked against.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/half.h"
#include "svdquant.h"

namespace svdq::test {

// A two-thread context that logs errors only.
inline svdq_context_options context_options() {
    svdq_context_options o{};
    o.struct_size = sizeof o;
    o.num_threads = 2;
    o.log_level = SVDQ_LOG_ERROR;
    return o;
}

inline std::vector<float> gaussian(size_t count, uint64_t seed, float stddev = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, stddev);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    return v;
}

// Activations with a few outlier channels, as in diffusion transformers.
// The values rounded to BF16: what the kernels keep of scales and the branch.
inline std::vector<float> bf16_values(std::vector<float> v) {
    for (float& x : v) x = round_to_bf16(x);
    return v;
}

inline std::vector<float> with_outlier_channels(std::vector<float> x, int64_t k, int64_t every, float factor) {
    for (size_t i = 0; i < x.size(); ++i)
        if (static_cast<int64_t>(i) % k % every == 3) x[i] *= factor;
    return x;
}

// Y = X W^T + bias in float64; w given by a value function w(n, j).
template <class W>
std::vector<double> reference_matmul(const float* x, int64_t m, int64_t n, int64_t k, W w, const float* bias = nullptr) {
    std::vector<double> y(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < n; ++o) {
            double acc = bias ? bias[o] : 0.0;
            for (int64_t j = 0; j < k; ++j) acc += static_cast<double>(x[i * k + j]) * w(o, j);
            y[static_cast<size_t>(i * n + o)] = acc;
        }
    return y;
}

// max |a - b| / max |b|: the error measure the tests bound.
template <class A, class B>
double max_rel_error(const A& a, const B& b) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
        scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
    return diff / scale;
}

// ||a - b||_F / ||b||_F.
template <class A, class B>
double frobenius_rel_error(const A& a, const B& b) {
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < b.size(); ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        diff += d * d;
        norm += static_cast<double>(b[i]) * static_cast<double>(b[i]);
    }
    return std::sqrt(diff / norm);
}

inline double gelu_tanh_ref(double v) {
    return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}

}  // namespace svdq::test
