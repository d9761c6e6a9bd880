// What a Nunchaku layer computes, in float64, from the known values it was
// built from (for tests only; nothing here calls the engine):
//
//   W4A4:  Y = Q((X + shift) / smooth) deq(W)^T + (X down^T) up^T + bias
//   W4A16: Y = X deq(W)^T + bias
//
// then GELU (tanh) where the layer has it. Q is the activation quantizer as
// docs/architecture.md and DESIGN.md define it, per token:
// - INT4: groups of 64, scale = absmax / 7, q = clamp(round-half-even(u / scale), -8, 7);
//   unsigned (Nunchaku's shifted mlp_fc2 input): scale = absmax / 15, q in 0..15;
// - NVFP4: a tensor scale ts = absmax / (6 * 448) per token; per group of 16
//   an E4M3 scale e = E4M3(group absmax / 6 / ts) and E2M1 values of u / (e ts),
//   both rounded to nearest even and saturating.
// The engine computes u in float32, so a code can differ from the float64 one
// where u sits at a rounding edge; rows with a value within kTieMargin of an
// edge are reported as not comparable instead (see ExpectedRows::comparable).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "nunchaku_reference_packer.h"

namespace svdq::test {

// How close to a rounding edge (in units of the rounded quantity: INT4 steps,
// E2M1 values, E4M3 mantissa steps) a float64 value may come before float32's
// rounding (relative 1e-6 at most here) could move it across.
constexpr double kTieMargin = 5e-5;

// E2M1 code 0..15 (sign in bit 3): 0, 0.5, 1, 1.5, 2, 3, 4, 6.
inline double e2m1_decode(int code) {
    static constexpr double kMagnitude[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    return (code & 8) ? -kMagnitude[code & 7] : kMagnitude[code & 7];
}

// FP8 E4M3 ("fn"): sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal.
inline double e4m3_decode(uint8_t b) {
    const int exponent = (b >> 3) & 0xF, mantissa = b & 7;
    const double magnitude = exponent == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
    return (b & 0x80) ? -magnitude : magnitude;
}

// Round half to even, and how far t is from the nearest tie (x.5).
inline double round_even(double t, double* margin) {
    *margin = std::min(*margin, std::fabs(std::fabs(t - std::floor(t)) - 0.5));
    return std::nearbyint(t);  // the default rounding mode: to nearest, ties to even
}

// The E4M3 value nearest to v >= 0 (ties to even mantissa), saturating at 448.
inline double e4m3_round(double v, double* margin) {
    if (v >= 448.0) return 448.0;
    if (v == 0.0) return 0.0;
    const int exponent = static_cast<int>(std::floor(std::log2(v)));
    if (exponent < -6) return std::ldexp(round_even(std::ldexp(v, 9), margin), -9);  // subnormal steps of 2^-9
    const double mantissa = round_even((std::ldexp(v, -exponent) - 1.0) * 8.0, margin);
    return std::min(448.0, std::ldexp(1.0 + mantissa / 8.0, exponent));
}

// The E2M1 value nearest to t (ties to the even code), saturating at +-6.
inline double e2m1_round(double t, double* margin) {
    static constexpr double kValues[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    const double a = std::fabs(t);
    int best = 0;
    for (int i = 1; i < 8; ++i) {
        const double edge = (kValues[i - 1] + kValues[i]) / 2;
        *margin = std::min(*margin, std::fabs(a - edge) / (kValues[i] - kValues[i - 1]));
        if (a > edge || (a == edge && i % 2 == 0)) best = i;
    }
    return t < 0 ? -kValues[best] : kValues[best];
}

enum class ActFormat { Float, Int4, Int4Unsigned, Nvfp4 };

// u (one token) quantized and dequantized; *margin gets the closest approach to a rounding edge.
inline std::vector<double> quantize_activation(const std::vector<double>& u, ActFormat format, double* margin) {
    std::vector<double> out(u.size(), 0.0);
    if (format == ActFormat::Float) return u;
    if (format == ActFormat::Nvfp4) {
        double absmax = 0;
        for (double v : u) absmax = std::max(absmax, std::fabs(v));
        const double ts = absmax / (6.0 * 448.0);
        if (ts == 0) return out;
        for (size_t g = 0; g < u.size(); g += 16) {
            double gmax = 0;
            for (size_t j = g; j < g + 16; ++j) gmax = std::max(gmax, std::fabs(u[j]));
            const double step = e4m3_round(gmax / 6.0 / ts, margin) * ts;
            if (step == 0) continue;
            for (size_t j = g; j < g + 16; ++j) out[j] = e2m1_round(u[j] / step, margin) * step;
        }
        return out;
    }
    const bool is_unsigned = format == ActFormat::Int4Unsigned;
    const double levels = is_unsigned ? 15 : 7, lowest = is_unsigned ? 0 : -8;
    for (size_t g = 0; g < u.size(); g += 64) {
        double absmax = 0;
        for (size_t j = g; j < g + 64; ++j) absmax = std::max(absmax, std::fabs(u[j]));
        if (absmax == 0) continue;
        const double scale = absmax / levels;
        for (size_t j = g; j < g + 64; ++j) out[j] = std::clamp(round_even(u[j] / scale, margin), lowest, levels) * scale;
    }
    return out;
}

// One linear layer as numbers: what the formula above needs.
struct KnownLinear {
    std::string name;
    ActFormat act = ActFormat::Int4;
    int64_t n = 0, k = 0, rank = 0;
    std::vector<double> weight;  // [n, k] dequantized
    std::vector<double> smooth;  // [k]: the input is divided by it (ones when folded away)
    double shift = 0;            // added to the input before smoothing (unsigned INT4 only)
    std::vector<double> down;    // [rank, k]: reads the input as it arrives
    std::vector<double> up;      // [n, rank]
    std::vector<double> bias;    // [n]
    bool gelu = false;           // GELU (tanh) on the output
};

// The W4A4 layer a ReferenceW4A4 describes, as Nunchaku runs it.
inline KnownLinear known_w4a4(const std::string& name, const ReferenceW4A4& l) {
    KnownLinear k;
    k.name = name;
    k.act = l.nvfp4 ? ActFormat::Nvfp4 : ActFormat::Int4;
    k.n = l.n;
    k.k = l.k;
    k.rank = l.rank;
    k.weight.resize(static_cast<size_t>(l.n * l.k));
    for (int64_t r = 0; r < l.n; ++r)
        for (int64_t c = 0; c < l.k; ++c) {
            const size_t i = static_cast<size_t>(r * l.k + c);
            k.weight[i] = l.nvfp4 ? e2m1_decode(l.q[i]) * e4m3_decode(l.micro[static_cast<size_t>(r * (l.k / 16) + c / 16)]) *
                                        l.wcscales[static_cast<size_t>(r)] * l.wtscale
                                  : l.q[i] * static_cast<double>(l.scales[static_cast<size_t>(r * (l.k / 64) + c / 64)]);
        }
    k.smooth = l.smooth_fused ? std::vector<double>(static_cast<size_t>(l.k), 1.0) : std::vector<double>(l.smooth.begin(), l.smooth.end());
    k.down.assign(l.down.begin(), l.down.end());
    k.up.assign(l.up.begin(), l.up.end());
    k.bias.assign(l.bias.begin(), l.bias.end());
    return k;
}

// Nunchaku's INT4 mlp_fc2: input shifted by 0.171875 and quantized unsigned.
inline KnownLinear with_unsigned_shifted_input(KnownLinear k) {
    k.act = ActFormat::Int4Unsigned;
    k.shift = 0.171875;
    return k;
}

// The AWQ W4A16 layer a ReferenceAdaNorm describes (diffusers' row order).
inline KnownLinear known_w4a16(const std::string& name, const ReferenceAdaNorm& l) {
    KnownLinear k;
    k.name = name;
    k.act = ActFormat::Float;
    k.n = l.n;
    k.k = l.k;
    k.weight.resize(static_cast<size_t>(l.n * l.k));
    for (int64_t r = 0; r < l.n; ++r)
        for (int64_t c = 0; c < l.k; ++c) {
            const size_t g = static_cast<size_t>(r * (l.k / 64) + c / 64);
            k.weight[static_cast<size_t>(r * l.k + c)] = l.q[static_cast<size_t>(r * l.k + c)] * static_cast<double>(l.scales[g]) + l.zeros[g];
        }
    k.smooth.assign(static_cast<size_t>(l.k), 1.0);
    k.bias.assign(l.bias.begin(), l.bias.end());
    return k;
}

inline double gelu_tanh(double y) { return 0.5 * y * (1.0 + std::tanh(0.7978845608028654 /* sqrt(2 / pi) */ * (y + 0.044715 * y * y * y))); }

// The formula over m tokens x [m, k]; a row is comparable when none of its
// activations lies within kTieMargin of a rounding edge.
struct ExpectedRows {
    std::vector<double> y;           // [m, n]
    std::vector<bool> comparable;    // [m]
};

template <class X>
ExpectedRows expected_forward(const KnownLinear& l, const X* x, int64_t m) {
    ExpectedRows e;
    e.y.resize(static_cast<size_t>(m * l.n));
    e.comparable.resize(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
        std::vector<double> u(static_cast<size_t>(l.k));
        for (int64_t j = 0; j < l.k; ++j) u[static_cast<size_t>(j)] = (x[i * l.k + j] + l.shift) / l.smooth[static_cast<size_t>(j)];
        double margin = 1.0;
        const std::vector<double> q = quantize_activation(u, l.act, &margin);
        e.comparable[static_cast<size_t>(i)] = margin > kTieMargin;
        std::vector<double> low(static_cast<size_t>(l.rank), 0.0);
        for (int64_t r = 0; r < l.rank; ++r)
            for (int64_t j = 0; j < l.k; ++j) low[static_cast<size_t>(r)] += x[i * l.k + j] * l.down[static_cast<size_t>(r * l.k + j)];
        for (int64_t o = 0; o < l.n; ++o) {
            double acc = l.bias.empty() ? 0.0 : l.bias[static_cast<size_t>(o)];
            for (int64_t j = 0; j < l.k; ++j) acc += q[static_cast<size_t>(j)] * l.weight[static_cast<size_t>(o * l.k + j)];
            for (int64_t r = 0; r < l.rank; ++r) acc += low[static_cast<size_t>(r)] * l.up[static_cast<size_t>(o * l.rank + r)];
            e.y[static_cast<size_t>(i * l.n + o)] = l.gelu ? gelu_tanh(acc) : acc;
        }
    }
    return e;
}

// max |got - expected| over the comparable rows, divided by max |expected| there.
struct Comparison {
    double rel_error = 0;
    int64_t rows = 0, compared = 0;
};

inline Comparison compare_rows(const std::vector<float>& got, const ExpectedRows& e, int64_t n) {
    Comparison c;
    double diff = 0, scale = 0;
    c.rows = static_cast<int64_t>(e.comparable.size());
    for (int64_t i = 0; i < c.rows; ++i) {
        if (!e.comparable[static_cast<size_t>(i)]) continue;
        ++c.compared;
        for (int64_t o = 0; o < n; ++o) {
            const size_t at = static_cast<size_t>(i * n + o);
            diff = std::max(diff, std::fabs(got[at] - e.y[at]));
            scale = std::max(scale, std::fabs(e.y[at]));
        }
    }
    c.rel_error = scale > 0 ? diff / scale : diff;
    return c;
}

}  // namespace svdq::test
