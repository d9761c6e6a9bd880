// The offline quantizer: float layers + calibration activations -> what
// Linear is built from (smoothing, low-rank branch, kind and format), for the
// five methods of svdq_quant_method. Layers reading one input share lambda.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/linear.h"
#include "svdquant.h"

namespace svdq {

class Context;

struct QuantizerOptions {
    svdq_quant_method method = SVDQ_QUANT_SVDQUANT;
    svdq_number_format format = SVDQ_FORMAT_INT4;
    int64_t rank = 32;
    svdq_smooth_search search = SVDQ_SEARCH_COARSE_TO_FINE;
    int grid_steps = 20;
    float alpha = 0.5f, beta = 0.5f;
    int refine_iterations = 0;
    int64_t score_tokens = 64;
    int64_t score_rows = 128;
    svdq_activation activation = SVDQ_ACTIVATION_NONE;
    svdq_branch_execution branch_execution = SVDQ_BRANCH_FUSED;
};

// The method's name as the CLI and the files spell it ("svdquant", "w4a16", ...).
const char* method_name(svdq_quant_method method);

// Checks the options against each other (rank a positive multiple of 16,
// grid_steps >= 1, exponents in [0, 1], ...).
void validate(const QuantizerOptions& o);

struct LayerToQuantize {
    int64_t n = 0;
    std::vector<float> weight;  // [n, k]
    std::vector<float> bias;    // [n] or empty
};

// The quantizer's input domain: every weight, bias and calibration value has
// |x| < kQuantizerMaxMagnitude (2^32, about 4.3e9). Squares and products of
// two such values, and their sums over any tensor that fits in memory, stay
// finite in fp32 (1e20 squared does not); larger values, finite or not, are
// refused with SVDQ_ERROR_NON_FINITE naming the tensor and the index. What
// extreme smoothing could still push past fp32 is caught on the results.
constexpr float kQuantizerMaxMagnitude = 4294967296.0f;

struct QuantizedLayers {
    std::vector<LinearWeights> layers;
    std::vector<float> smooth;  // [k], ones without smoothing
    float alpha = 0.0f, beta = 0.0f;
    int candidates = 0;
    int refine_rounds = 0;
    double search_seconds = 0.0;
    double svd_seconds = 0.0;
};

// calib [m, k] may be null (m = 0) for the methods that do not smooth. Inputs
// outside kQuantizerMaxMagnitude and any non-finite value the quantization
// produces (smooth, branch, residual) fail with SVDQ_ERROR_NON_FINITE naming
// the layer, so no caller writes a layer of NaN. The
// search and the SVDs run their large products on the context's SIMD float
// GEMM and spread over its threads.
// `names` (one per layer, or empty: "layer <i>") name the layers in errors.
QuantizedLayers quantize_layers(const std::vector<LayerToQuantize>& layers, int64_t k, const float* calib, int64_t m,
                                const QuantizerOptions& options, Context& ctx, const std::vector<std::string>& names = {});

// Evenly spaced rows [count, cols] of a [rows, cols] matrix (all of them when count >= rows).
std::vector<float> sample_rows(const float* a, int64_t rows, int64_t cols, int64_t count);

// ||Y - Y_float||_F / ||Y_float||_F over all layers, Y from forward and
// Y_float = activation(X W^T + bias).
float relative_output_error(Context& ctx, const std::vector<const Linear*>& linears,
                            const std::vector<LayerToQuantize>& layers, const float* x, int64_t m, int64_t k);

}  // namespace svdq
