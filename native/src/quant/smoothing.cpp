#include "quant/smoothing.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"

namespace svdq {

// Rows split across threads, one partial maximum per thread.
std::vector<float> column_absmax(const float* a, int64_t rows, int64_t k, ThreadPool& pool) {
    const int64_t chunks = std::min<int64_t>(rows, pool.size());
    std::vector<std::vector<float>> partial(static_cast<size_t>(chunks), std::vector<float>(static_cast<size_t>(k), 0.0f));
    pool.parallel_for(chunks, [&](int64_t c) {
        std::vector<float>& out = partial[static_cast<size_t>(c)];
        for (int64_t r = rows * c / chunks; r < rows * (c + 1) / chunks; ++r)
            for (int64_t j = 0; j < k; ++j) out[static_cast<size_t>(j)] = std::max(out[static_cast<size_t>(j)], std::fabs(a[r * k + j]));
    });
    std::vector<float> result(static_cast<size_t>(k), 0.0f);
    for (const auto& p : partial)
        for (size_t j = 0; j < result.size(); ++j) result[j] = std::max(result[j], p[j]);
    return result;
}

std::vector<float> compute_smoothing(const float* x, int64_t m, const float* w, int64_t n, int64_t k, float alpha,
                                     float beta, ThreadPool& pool) {
    return smoothing_from_maxima(column_absmax(x, m, k, pool), column_absmax(w, n, k, pool), alpha, beta);
}

std::vector<float> smoothing_from_maxima(const std::vector<float>& xmax, const std::vector<float>& wmax, float alpha,
                                         float beta) {
    std::vector<float> lambda(xmax.size(), 1.0f);
    for (size_t j = 0; j < lambda.size(); ++j) {
        if (xmax[j] <= 0.0f || wmax[j] <= 0.0f) continue;
        const float v = std::pow(xmax[j], alpha) / std::pow(wmax[j], beta);
        if (std::isfinite(v) && v > 0.0f) lambda[j] = v;
    }
    return lambda;
}

}  // namespace svdq
