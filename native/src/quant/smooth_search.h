// The grid search over the smoothing exponents (alpha, beta) of DESIGN.md
// section 3. A candidate's score is the relative output error of the whole
// quantized layer on calibration tokens, the low-rank branch included (its
// SVD is redone per candidate, since W * lambda changes). To stay cheap the
// score reads a subset of the calibration tokens and of the output channels:
// INT4 groups are per output row, so a row subset's quantization is exactly
// the full layer's; the branch then comes from the subset's own SVD, a proxy
// for the full one used only to rank candidates. The large products run on
// the host's float GEMM kernels (SIMD), one candidate per thread.
#pragma once

#include <cstdint>
#include <vector>

#include <memory>

#include "backend/host_gemm.h"
#include "svdquant.h"

namespace svdq {

class ThreadPool;

struct SearchLayer {
    int64_t rows = 0;            // sampled output channels
    std::vector<float> weight;   // W [rows, k]
    std::vector<float> weight_t; // W^T [k, rows]
    std::unique_ptr<HostMatrix> packed;  // W, for products with W^T
    std::vector<float> y_ref_t;  // [rows, tokens] = W X^T in float
    double ref_norm2 = 0.0;      // ||y_ref||^2
};

struct SearchProblem {
    const HostGemm* gemm = nullptr;  // packed the layers; runs the products
    svdq_number_format format = SVDQ_FORMAT_INT4;
    int64_t k = 0;
    int64_t rank = 0;            // 0: no branch (SmoothQuant)
    std::vector<float> xmax;     // [k] over all calibration tokens
    std::vector<float> wmax;     // [k] over every layer of the group
    int64_t tokens = 0;
    std::vector<float> x;        // [tokens, k] scoring tokens
    std::vector<SearchLayer> layers;
};

struct SearchResult {
    float alpha = 0.0f, beta = 0.0f;
    double error = 0.0;  // mean relative squared output error over the layers
    int candidates = 0;
};

// alpha, beta in {0, 1/steps, ..., 1}; candidates are scored in parallel.
SearchResult search_smoothing(const SearchProblem& p, svdq_smooth_search mode, int grid_steps, ThreadPool& pool);

}  // namespace svdq
