// A float64 replay of one INT4 SVDQuant W4A4 linear from its stored values,
// written from the method's definition (DESIGN.md section 3, Nunchaku's
// unsigned mlp_fc2 input), never through the engine's kernels:
//
//   Y = act( Q(X^) deq(R)^T + (X down^T) up^T + bias ),  X^ = (X + shift) / smooth
//
// Q quantizes each token per group of 64: scale = absmax / L, level =
// round-half-to-even(x / scale) clamped to [lo, L]; L = 7, lo = -8 for the
// signed input, L = 15, lo = 0 for the shifted unsigned one. The branch reads
// the raw X. For tests only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "test_util.h"

namespace svdq::test {

// One layer's stored values in row-major order (INT4 levels as plain ints).
struct W4A4ReplayLayer {
    int64_t n = 0, k = 0, rank = 0;
    std::vector<int> levels;            // [n, k], -8..7
    std::vector<float> scales;          // [n, k / 64]
    std::vector<float> smooth;          // [k]; empty: 1
    std::vector<float> down;            // [rank, k], applied to the raw input
    std::vector<float> up;              // [n, rank]
    std::vector<float> bias;            // [n]; empty: none
    float shift = 0.0f;                 // added to X before smoothing
    bool unsigned_input = false;        // levels 0..15 instead of -8..7
    bool gelu = false;                  // GELU (tanh) after the sum
};

// Round half to even, spelled out (independent of the FPU rounding mode).
inline double round_half_even(double v) {
    const double f = std::floor(v), frac = v - f;
    if (frac > 0.5) return f + 1.0;
    if (frac < 0.5) return f;
    return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

// Y [m, n] for X [m, k].
inline std::vector<double> replay_w4a4(const W4A4ReplayLayer& l, const float* x, int64_t m) {
    constexpr int64_t group = 64;
    const int64_t groups = l.k / group;
    const double top = l.unsigned_input ? 15.0 : 7.0, bottom = l.unsigned_input ? 0.0 : -8.0;
    std::vector<double> y(static_cast<size_t>(m * l.n));
    std::vector<double> q(static_cast<size_t>(l.k)), xscale(static_cast<size_t>(groups)), branch(static_cast<size_t>(l.rank));
    for (int64_t i = 0; i < m; ++i) {
        const float* row = x + i * l.k;
        for (int64_t g = 0; g < groups; ++g) {
            double absmax = 0.0;
            for (int64_t j = g * group; j < (g + 1) * group; ++j) {
                const double smooth = l.smooth.empty() ? 1.0 : l.smooth[static_cast<size_t>(j)];
                q[static_cast<size_t>(j)] = (static_cast<double>(row[j]) + l.shift) / smooth;
                absmax = std::max(absmax, std::fabs(q[static_cast<size_t>(j)]));
            }
            const double scale = absmax / top;
            xscale[static_cast<size_t>(g)] = scale;
            for (int64_t j = g * group; j < (g + 1) * group; ++j) {
                double& v = q[static_cast<size_t>(j)];
                v = scale > 0.0 ? std::clamp(round_half_even(v / scale), bottom, top) : 0.0;
            }
        }
        for (int64_t r = 0; r < l.rank; ++r) {
            double acc = 0.0;
            for (int64_t j = 0; j < l.k; ++j) acc += static_cast<double>(row[j]) * l.down[static_cast<size_t>(r * l.k + j)];
            branch[static_cast<size_t>(r)] = acc;
        }
        for (int64_t o = 0; o < l.n; ++o) {
            double acc = l.bias.empty() ? 0.0 : l.bias[static_cast<size_t>(o)];
            for (int64_t g = 0; g < groups; ++g) {
                double dot = 0.0;
                for (int64_t j = g * group; j < (g + 1) * group; ++j)
                    dot += q[static_cast<size_t>(j)] * l.levels[static_cast<size_t>(o * l.k + j)];
                acc += dot * xscale[static_cast<size_t>(g)] * l.scales[static_cast<size_t>(o * groups + g)];
            }
            for (int64_t r = 0; r < l.rank; ++r) acc += branch[static_cast<size_t>(r)] * l.up[static_cast<size_t>(o * l.rank + r)];
            y[static_cast<size_t>(i * l.n + o)] = l.gelu ? gelu_tanh_ref(acc) : acc;
        }
    }
    return y;
}

}  // namespace svdq::test
