// Float64 references for the text encoders, written from the published
// definitions (transformers' modeling_clip.py and modeling_t5.py) and sharing
// no code with the engine: row-major [rows, cols] matrices of doubles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace svdq::test {

using Rows = std::vector<double>;

// y [m, n] = x [m, k] w^T (w [n, k]) + bias [n] (empty: none).
inline Rows ref_linear(const Rows& x, int64_t m, int64_t k, const std::vector<float>& w, int64_t n,
                       const std::vector<float>& bias = {}) {
    Rows y(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i)
        for (int64_t o = 0; o < n; ++o) {
            double acc = bias.empty() ? 0.0 : bias[static_cast<size_t>(o)];
            for (int64_t j = 0; j < k; ++j) acc += x[static_cast<size_t>(i * k + j)] * w[static_cast<size_t>(o * k + j)];
            y[static_cast<size_t>(i * n + o)] = acc;
        }
    return y;
}

// (x - mean) / sqrt(var + eps) * w + b per row (nn.LayerNorm, biased variance).
inline Rows ref_layer_norm(const Rows& x, int64_t d, const std::vector<float>& w, const std::vector<float>& b, double eps) {
    Rows y(x.size());
    for (size_t r = 0; r < x.size() / static_cast<size_t>(d); ++r) {
        const double* xr = x.data() + r * static_cast<size_t>(d);
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < d; ++j) mean += xr[j];
        mean /= static_cast<double>(d);
        for (int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
        const double inv = 1.0 / std::sqrt(var / static_cast<double>(d) + eps);
        for (int64_t j = 0; j < d; ++j) y[r * static_cast<size_t>(d) + static_cast<size_t>(j)] = (xr[j] - mean) * inv * w[static_cast<size_t>(j)] + b[static_cast<size_t>(j)];
    }
    return y;
}

// x / sqrt(mean(x^2) + eps) * w per row (T5LayerNorm: no mean, no bias).
inline Rows ref_rms_norm(const Rows& x, int64_t d, const std::vector<float>& w, double eps) {
    Rows y(x.size());
    for (size_t r = 0; r < x.size() / static_cast<size_t>(d); ++r) {
        const double* xr = x.data() + r * static_cast<size_t>(d);
        double ss = 0.0;
        for (int64_t j = 0; j < d; ++j) ss += xr[j] * xr[j];
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + eps);
        for (int64_t j = 0; j < d; ++j) y[r * static_cast<size_t>(d) + static_cast<size_t>(j)] = xr[j] * inv * w[static_cast<size_t>(j)];
    }
    return y;
}

// Multi-head attention over one sequence of `len` tokens: q, k, v, result
// [len, heads * hd]; scores scale q.k + bias(h, i, j), keys j > i skipped
// when causal, keys with keep[j] == false skipped (a padding mask).
template <class Bias>
Rows ref_attention(const Rows& q, const Rows& k, const Rows& v, int64_t len, int64_t heads, int64_t hd, double scale,
                   bool causal, Bias bias, const std::vector<bool>& keep = {}) {
    const int64_t w = heads * hd;
    Rows out(static_cast<size_t>(len * w), 0.0);
    std::vector<double> s(static_cast<size_t>(len));
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < len; ++i) {
            double max = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < len; ++j) {
                const bool seen = (!causal || j <= i) && (keep.empty() || keep[static_cast<size_t>(j)]);
                double dot = 0.0;
                for (int64_t e = 0; e < hd; ++e) dot += q[static_cast<size_t>(i * w + h * hd + e)] * k[static_cast<size_t>(j * w + h * hd + e)];
                s[static_cast<size_t>(j)] = seen ? scale * dot + bias(h, i, j) : -std::numeric_limits<double>::infinity();
                max = std::max(max, s[static_cast<size_t>(j)]);
            }
            double sum = 0.0;
            for (int64_t j = 0; j < len; ++j) sum += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - max));
            for (int64_t j = 0; j < len; ++j)
                for (int64_t e = 0; e < hd; ++e)
                    out[static_cast<size_t>(i * w + h * hd + e)] += s[static_cast<size_t>(j)] / sum * v[static_cast<size_t>(j * w + h * hd + e)];
        }
    return out;
}

inline void ref_add(Rows& x, const Rows& y) {
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
}

}  // namespace svdq::test
