// References for the 4-bit layers, written from the published definitions
// (docs/architecture.md "INT4 canonical layout" and "NVFP4", DESIGN.md
// section 3) and independent of the engine's code: no engine header, so the
// C API tests can use it too. Tests build expected layer outputs from these,
// never from the engine's own quantizers, residual or GEMMs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace svdq::ref {

// fp32 rounded to BF16 (nearest, ties to even on the upper 16 bits); finite inputs.
inline float bf16(float v) {
    uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

inline float absmax(const float* x, int64_t count) {
    float m = 0.0f;
    for (int64_t i = 0; i < count; ++i) m = std::max(m, std::fabs(x[i]));
    return m;
}

// ---- INT4, groups of 64 ----------------------------------------------------

// Canonical INT4 weights [rows, cols], dequantized: per row per 64 columns,
// scale = absmax / 7 rounded to BF16, q = clamp(round-half-even(x * (7 / absmax)), -8, 7).
inline std::vector<double> int4_weights(const float* w, int64_t rows, int64_t cols) {
    std::vector<double> out(static_cast<size_t>(rows * cols));
    for (int64_t g = 0; g < rows * cols; g += 64) {
        const float a = absmax(w + g, 64);
        const float mul = a > 0.0f ? 7.0f / a : 0.0f, scale = bf16(a / 7.0f);
        for (int64_t i = g; i < g + 64; ++i)
            out[static_cast<size_t>(i)] = std::clamp(std::nearbyint(w[i] * mul), -8.0f, 7.0f) * static_cast<double>(scale);
    }
    return out;
}

// One token's INT4 activations [k], dequantized: u = (x + shift) * (1 / lambda)
// in fp32, per 64-group L = 7 (signed, q in -8..7) or 15 (unsigned, 0..15),
// q = clamp(round-half-even(u * (L / absmax))), value q * (absmax / L) (fp32 scale).
inline std::vector<double> int4_activations(const float* x, int64_t k, const float* inv_smooth, float shift, bool is_unsigned) {
    const float levels = is_unsigned ? 15.0f : 7.0f, lowest = is_unsigned ? 0.0f : -8.0f;
    std::vector<float> u(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) u[static_cast<size_t>(j)] = (x[j] + shift) * (inv_smooth ? inv_smooth[j] : 1.0f);
    std::vector<double> out(static_cast<size_t>(k));
    for (int64_t g = 0; g < k; g += 64) {
        const float a = absmax(u.data() + g, 64);
        const float mul = a > 0.0f ? levels / a : 0.0f, scale = a / levels;
        for (int64_t j = g; j < g + 64; ++j)
            out[static_cast<size_t>(j)] =
                std::clamp(std::nearbyint(u[static_cast<size_t>(j)] * mul), lowest, levels) * static_cast<double>(scale);
    }
    return out;
}

// ---- NVFP4: E2M1 in groups of 16, E4M3 group scales, fp32 tensor scale ----

// The nearest of `grid` (ascending magnitudes of codes 0..count-1) to |v|, a
// tie going to the even code; beyond the last value it saturates. Sign kept.
inline double nearest_on_grid(double v, const double* grid, int count) {
    const double a = std::fabs(v);
    int best = 0;
    for (int c = 1; c < count; ++c) {
        const double d = std::fabs(a - grid[c]), db = std::fabs(a - grid[best]);
        if (d < db || (d == db && c % 2 == 0)) best = c;
    }
    return std::copysign(grid[best], v);
}

// E2M1: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives.
inline double e2m1_round(double v) {
    static const double grid[8] = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
    return nearest_on_grid(v, grid, 8);
}

// FP8 E4M3 ("fn": bias 7, no infinities, largest 448): codes 0..126 as
// magnitudes; code e.m is m/8 * 2^-6 for e = 0, (1 + m/8) * 2^(e-7) otherwise.
inline double e4m3_round(double v) {
    static const std::vector<double> grid = [] {
        std::vector<double> g(127);
        for (int c = 0; c < 127; ++c) {
            const int e = c >> 3, m = c & 7;
            g[static_cast<size_t>(c)] = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
        }
        return g;
    }();
    return nearest_on_grid(v, grid.data(), 127);
}

// One row [k] under tensor scale ts, dequantized: per 16-group
// step = e4m3(absmax / (6 ts)) * ts, value = e2m1(x / step) * step.
inline void nvfp4_row(const float* x, int64_t k, double ts, double* out) {
    for (int64_t g = 0; g < k; g += 16) {
        const double step = ts > 0.0 ? e4m3_round(absmax(x + g, 16) / 6.0 / ts) * ts : 0.0;
        for (int64_t j = g; j < g + 16; ++j) out[j] = step > 0.0 ? e2m1_round(x[j] / step) * step : 0.0;
    }
}

// Weights [rows, cols]: one tensor scale absmax / (6 * 448) for the whole matrix.
inline std::vector<double> nvfp4_weights(const float* w, int64_t rows, int64_t cols) {
    std::vector<double> out(static_cast<size_t>(rows * cols));
    const double ts = absmax(w, rows * cols) / (6.0 * 448.0);
    for (int64_t r = 0; r < rows; ++r) nvfp4_row(w + r * cols, cols, ts, out.data() + r * cols);
    return out;
}

// One token [k]: its own tensor scale, of x * (1 / lambda) in fp32.
inline std::vector<double> nvfp4_activations(const float* x, int64_t k, const float* inv_smooth) {
    std::vector<float> u(x, x + k);
    if (inv_smooth)
        for (int64_t j = 0; j < k; ++j) u[static_cast<size_t>(j)] *= inv_smooth[j];
    std::vector<double> out(static_cast<size_t>(k));
    nvfp4_row(u.data(), k, absmax(u.data(), k) / (6.0 * 448.0), out.data());
    return out;
}

// ---- the SVDQuant layer ----------------------------------------------------

struct Layer {
    int64_t n = 0, k = 0, rank = 0;
    bool nvfp4 = false;
    const float* weight = nullptr;  // [n, k]
    const float* bias = nullptr;    // [n] or null
    const float* smooth = nullptr;  // [k] or null
    const float* up = nullptr;      // [n, rank]
    const float* down = nullptr;    // [rank, k], a factor of weight * smooth
    float shift = 0.0f;             // INT4 input encoding (Nunchaku's mlp_fc2)
    bool unsigned_input = false;
};

// R = W * lambda - up down, computed in float64 and stored as the fp32 matrix a layer quantizes.
inline std::vector<float> residual(const Layer& l) {
    std::vector<float> r(static_cast<size_t>(l.n * l.k));
    for (int64_t o = 0; o < l.n; ++o)
        for (int64_t j = 0; j < l.k; ++j) {
            double v = static_cast<double>(l.weight[o * l.k + j]) * (l.smooth ? l.smooth[j] : 1.0f);
            for (int64_t q = 0; q < l.rank; ++q) v -= static_cast<double>(l.up[o * l.rank + q]) * l.down[q * l.k + j];
            r[static_cast<size_t>(o * l.k + j)] = static_cast<float>(v);
        }
    return r;
}

// Y [m, n] = A(X) Q(R)^T + (X down'^T) up^T + bias in float64, with A and Q
// the format's activation and weight quantizers, down' = down / lambda (the
// branch reads the raw X), and up and down' in BF16 as layers keep them.
inline std::vector<double> layer_output(const Layer& l, const float* x, int64_t m) {
    const std::vector<float> r = residual(l);
    const std::vector<double> qr = l.nvfp4 ? nvfp4_weights(r.data(), l.n, l.k) : int4_weights(r.data(), l.n, l.k);
    std::vector<float> inv(static_cast<size_t>(l.k), 1.0f), down(static_cast<size_t>(l.rank * l.k)), up(static_cast<size_t>(l.n * l.rank));
    for (int64_t j = 0; j < l.k; ++j) inv[static_cast<size_t>(j)] = l.smooth ? 1.0f / l.smooth[j] : 1.0f;
    for (int64_t q = 0; q < l.rank; ++q)
        for (int64_t j = 0; j < l.k; ++j)
            down[static_cast<size_t>(q * l.k + j)] = bf16(static_cast<float>(static_cast<double>(l.down[q * l.k + j]) / (l.smooth ? l.smooth[j] : 1.0f)));
    for (int64_t i = 0; i < l.n * l.rank; ++i) up[static_cast<size_t>(i)] = bf16(l.up[i]);
    std::vector<double> y(static_cast<size_t>(m * l.n)), branch(static_cast<size_t>(l.rank));
    for (int64_t i = 0; i < m; ++i) {
        const float* xi = x + i * l.k;
        const std::vector<double> a = l.nvfp4 ? nvfp4_activations(xi, l.k, inv.data())
                                              : int4_activations(xi, l.k, inv.data(), l.shift, l.unsigned_input);
        for (int64_t q = 0; q < l.rank; ++q) {
            double d = 0.0;
            for (int64_t j = 0; j < l.k; ++j) d += static_cast<double>(xi[j]) * down[static_cast<size_t>(q * l.k + j)];
            branch[static_cast<size_t>(q)] = d;
        }
        for (int64_t o = 0; o < l.n; ++o) {
            double acc = l.bias ? l.bias[o] : 0.0;
            for (int64_t j = 0; j < l.k; ++j) acc += a[static_cast<size_t>(j)] * qr[static_cast<size_t>(o * l.k + j)];
            for (int64_t q = 0; q < l.rank; ++q) acc += branch[static_cast<size_t>(q)] * up[static_cast<size_t>(o * l.rank + q)];
            y[static_cast<size_t>(i * l.n + o)] = acc;
        }
    }
    return y;
}

// Y = X W^T + bias in float64, x [m, k], w [n, k].
inline std::vector<double> matmul(const float* x, int64_t m, const float* w, int64_t n, int64_t k, const float* bias) {
    std::vector<double> y(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < n; ++o) {
            double acc = bias ? bias[o] : 0.0;
            for (int64_t j = 0; j < k; ++j) acc += static_cast<double>(x[i * k + j]) * w[o * k + j];
            y[static_cast<size_t>(i * n + o)] = acc;
        }
    return y;
}

// ||a - b||_F / ||b||_F and max |a - b| / max |b|.
template <class A>
double frobenius_rel(const A& a, const std::vector<double>& b) {
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < b.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return std::sqrt(diff / norm);
}

template <class A>
double max_rel(const A& a, const std::vector<double>& b) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(a[i] - b[i]));
        scale = std::max(scale, std::fabs(b[i]));
    }
    return diff / scale;
}

}  // namespace svdq::ref
