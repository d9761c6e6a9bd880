// SmoothQuant-style migration of activation outliers into the weights:
// lambda_j = max|X_j|^alpha / max|W_j|^beta per input channel j.
#pragma once

#include <cstdint>
#include <vector>

namespace svdq {

class ThreadPool;

// x: [m, k] calibration activations, w: [n, k] weights. Channels where either
// side is all zero get lambda = 1 (nothing to migrate).
// Column-wise max |a_ij| of a [rows, k] matrix.
std::vector<float> column_absmax(const float* a, int64_t rows, int64_t k, ThreadPool& pool);

// lambda from the column maxima of X and W: what the grid search evaluates
// once per candidate.
std::vector<float> smoothing_from_maxima(const std::vector<float>& xmax, const std::vector<float>& wmax, float alpha,
                                         float beta);

std::vector<float> compute_smoothing(const float* x, int64_t m, const float* w, int64_t n, int64_t k, float alpha,
                                     float beta, ThreadPool& pool);

}  // namespace svdq
