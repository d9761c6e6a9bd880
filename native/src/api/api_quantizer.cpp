#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "api/api_guard.h"
#include "api/quantize_options.h"
#include "backend/context.h"
#include "core/tensor.h"
#include "quant/lowrank.h"
#include "quant/quantizer.h"
#include "quant/smoothing.h"

using namespace svdq;

namespace {

// A 2-D float matrix read from any float dtype, checked finite.
struct Matrix {
    int64_t rows, cols;
    std::vector<float> values;
};

Matrix matrix_of(const svdq_tensor* t, const char* what) {
    const Tensor& tensor = deref(t, what);
    require(tensor.ndim() == 2 && tensor.dim(0) > 0 && tensor.dim(1) > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            std::string(what) + " must be a non-empty 2-D tensor, got " + tensor.shape_string());
    return {tensor.dim(0), tensor.dim(1), to_float_checked(tensor, what)};
}

void write_f32(svdq_tensor* t, std::initializer_list<int64_t> shape, const std::vector<float>& values, const char* what) {
    Tensor& out = deref(t, what);
    require(out.dtype() == SVDQ_DTYPE_F32, SVDQ_ERROR_DTYPE, std::string(what) + " must be F32, not " + dtype_name(out.dtype()));
    require_shape(out, shape, what);
    std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
}


std::string indexed(const char* what, int32_t i) { return std::string(what) + "[" + std::to_string(i) + "]"; }

// The layers to quantize, read and checked: every weight [N_i, K] with one K.
std::vector<LayerToQuantize> layers_of(const svdq_tensor* const* weights, const svdq_tensor* const* biases, int32_t count) {
    require(count > 0, SVDQ_ERROR_INVALID_ARGUMENT, "count must be positive");
    deref(weights, "weights");
    std::vector<LayerToQuantize> layers;
    for (int32_t i = 0; i < count; ++i) {
        const std::string name = indexed("weights", i);
        Matrix w = matrix_of(weights[i], name.c_str());
        require(layers.empty() || w.cols == static_cast<int64_t>(layers[0].weight.size()) / layers[0].n,
                SVDQ_ERROR_SHAPE_MISMATCH, name + " has K = " + std::to_string(w.cols) + ", unlike weights[0]");
        LayerToQuantize l;
        l.n = w.rows;
        l.weight = std::move(w.values);
        if (biases != nullptr && biases[i] != nullptr) {
            const std::string bname = indexed("biases", i);
            const Tensor& b = *biases[i];
            require(b.ndim() == 1 && b.dim(0) == l.n, SVDQ_ERROR_SHAPE_MISMATCH,
                    bname + " has shape " + b.shape_string() + ", expected [" + std::to_string(l.n) + "]");
            l.bias = to_float_checked(b, bname.c_str());
        }
        layers.push_back(std::move(l));
    }
    return layers;
}

}  // namespace

QuantizerOptions svdq::options_of(const svdq_quantize_options& o) {
    QuantizerOptions q;
    q.method = static_cast<svdq_quant_method>(o.method);
    q.format = static_cast<svdq_number_format>(o.format);
    q.rank = o.rank;
    q.search = static_cast<svdq_smooth_search>(o.search);
    q.grid_steps = o.grid_steps;
    q.alpha = o.alpha;
    q.beta = o.beta;
    q.refine_iterations = o.refine_iterations;
    q.score_tokens = o.score_tokens;
    q.score_rows = o.score_rows;
    require(o.activation == SVDQ_ACTIVATION_NONE || o.activation == SVDQ_ACTIVATION_GELU_TANH, SVDQ_ERROR_INVALID_ARGUMENT,
            "activation " + std::to_string(o.activation) + " is not a svdq_activation value");
    require(o.branch_execution == SVDQ_BRANCH_FUSED || o.branch_execution == SVDQ_BRANCH_UNFUSED,
            SVDQ_ERROR_INVALID_ARGUMENT,
            "branch_execution " + std::to_string(o.branch_execution) + " is not a svdq_branch_execution value");
    q.activation = static_cast<svdq_activation>(o.activation);
    q.branch_execution = static_cast<svdq_branch_execution>(o.branch_execution);
    validate(q);
    return q;
}

void svdq::fill_report(svdq_quantize_report& out, const QuantizedLayers& result, Context& ctx,
                       const std::vector<const Linear*>& linears, const std::vector<LayerToQuantize>& layers,
                       const float* calib, int64_t m, int64_t k, const QuantizerOptions& q, double packing_seconds) {
    svdq_quantize_report r{};
    r.alpha = result.alpha;
    r.beta = result.beta;
    r.candidates = result.candidates;
    r.refine_rounds = result.refine_rounds;
    r.calibration_error = 0.0f;
    if (m > 0) {
        const int64_t tokens = std::min<int64_t>(m, q.score_tokens);
        const std::vector<float> x = sample_rows(calib, m, k, tokens);
        r.calibration_error = relative_output_error(ctx, linears, layers, x.data(), tokens, k);
    }
    r.search_seconds = result.search_seconds;
    r.svd_seconds = result.svd_seconds;
    r.packing_seconds = packing_seconds;
    write_versioned(out, r, "svdq_quantize_report");
}

extern "C" {

SVDQ_API svdq_status svdq_quantize_options_init(svdq_quantize_options* options) {
    return guarded(__func__, [&] {
        svdq_quantize_options& o = deref(options, "options");
        const QuantizerOptions d;
        o = svdq_quantize_options{};
        o.struct_size = sizeof(svdq_quantize_options);
        o.method = d.method;
        o.format = d.format;
        o.rank = static_cast<int32_t>(d.rank);
        o.search = d.search;
        o.grid_steps = d.grid_steps;
        o.alpha = d.alpha;
        o.beta = d.beta;
        o.refine_iterations = d.refine_iterations;
        o.score_tokens = static_cast<int32_t>(d.score_tokens);
        o.score_rows = static_cast<int32_t>(d.score_rows);
        o.activation = d.activation;
        o.branch_execution = d.branch_execution;
    });
}

SVDQ_API svdq_status svdq_quantize_linears(svdq_context* context, const svdq_quantize_options* options,
                                           const svdq_tensor* calibration, const svdq_tensor* const* weights,
                                           const svdq_tensor* const* biases, int32_t count, svdq_linear** out_linears,
                                           svdq_tensor* out_smooth, svdq_tensor* const* out_ups,
                                           svdq_tensor* const* out_downs, svdq_quantize_report* out_report) {
    return guarded(__func__, [&] {
        deref(out_linears, "out_linears");
        for (int32_t i = 0; i < count; ++i) out_linears[i] = nullptr;
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        svdq_quantize_options defaults;
        svdq_quantize_options_init(&defaults);
        const svdq_quantize_options o = read_versioned(deref(options, "options"), defaults, "svdq_quantize_options");
        if (out_report != nullptr) require_struct_size(out_report->struct_size, sizeof(svdq_quantize_report), "svdq_quantize_report");
        const QuantizerOptions q = options_of(o);
        const std::vector<LayerToQuantize> layers = layers_of(weights, biases, count);
        const int64_t k = static_cast<int64_t>(layers[0].weight.size()) / layers[0].n;
        Matrix calib{0, k, {}};
        if (calibration != nullptr) {
            calib = matrix_of(calibration, "calibration");
            require(calib.cols == k, SVDQ_ERROR_SHAPE_MISMATCH,
                    "calibration has " + std::to_string(calib.cols) + " columns but the weights have K = " + std::to_string(k));
        }

        require((out_ups == nullptr) == (out_downs == nullptr), SVDQ_ERROR_INVALID_ARGUMENT,
                "out_ups and out_downs must be given together");
        std::vector<std::string> names;
        for (int32_t i = 0; i < count; ++i) names.push_back(indexed("weights", i));
        QuantizedLayers result = quantize_layers(layers, k, calib.values.empty() ? nullptr : calib.values.data(), calib.rows, q, ctx, names);
        for (int32_t i = 0; out_ups != nullptr && i < count; ++i) {
            const LinearWeights& w = result.layers[static_cast<size_t>(i)];
            if (w.rank == 0) continue;
            write_f32(out_ups[i], {w.n, w.rank}, w.up, indexed("out_ups", i).c_str());
            write_f32(out_downs[i], {w.rank, k}, w.down, indexed("out_downs", i).c_str());
        }
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::unique_ptr<svdq_linear>> created;
        for (LinearWeights& w : result.layers) created.push_back(std::make_unique<svdq_linear>(ctx, std::move(w)));
        const double packing = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (out_smooth != nullptr) write_f32(out_smooth, {k}, result.smooth, "out_smooth");

        if (out_report != nullptr) {
            std::vector<const Linear*> linears;
            for (const auto& l : created) linears.push_back(l.get());
            fill_report(*out_report, result, ctx, linears, layers, calib.values.data(), calib.rows, k, q, packing);
        }
        for (int32_t i = 0; i < count; ++i) out_linears[i] = created[static_cast<size_t>(i)].release();
    });
}

SVDQ_API svdq_status svdq_smooth_compute(svdq_context* context, const svdq_tensor* x, const svdq_tensor* weight,
                                         float alpha, float beta, svdq_tensor* out_smooth) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        require(std::isfinite(alpha) && std::isfinite(beta) && alpha >= 0 && beta >= 0, SVDQ_ERROR_INVALID_ARGUMENT,
                "alpha and beta must be finite and non-negative");
        const Matrix xm = matrix_of(x, "x");
        const Matrix wm = matrix_of(weight, "weight");
        require(xm.cols == wm.cols, SVDQ_ERROR_SHAPE_MISMATCH,
                "x has " + std::to_string(xm.cols) + " columns but weight has K = " + std::to_string(wm.cols));
        write_f32(out_smooth, {wm.cols},
                  compute_smoothing(xm.values.data(), xm.rows, wm.values.data(), wm.rows, wm.cols, alpha, beta, ctx.pool()),
                  "out_smooth");
    });
}

SVDQ_API svdq_status svdq_lowrank_decompose(svdq_context* context, const svdq_tensor* weight,
                                            const svdq_tensor* smooth, int32_t rank, svdq_tensor* out_up,
                                            svdq_tensor* out_down) {
    return guarded(__func__, [&] {
        const ContextCall call(context);
        svdq_context& ctx = call.context();
        Matrix wm = matrix_of(weight, "weight");
        if (smooth != nullptr) {
            const Tensor& s = *smooth;
            require(s.ndim() == 1 && s.dim(0) == wm.cols, SVDQ_ERROR_SHAPE_MISMATCH,
                    "smooth has shape " + s.shape_string() + ", expected [" + std::to_string(wm.cols) + "]");
            const std::vector<float> lambda = to_float_checked(s, "smooth");
            for (int64_t i = 0; i < wm.rows; ++i)
                for (int64_t j = 0; j < wm.cols; ++j) wm.values[static_cast<size_t>(i * wm.cols + j)] *= lambda[static_cast<size_t>(j)];
        }
        const LowRank lr = lowrank_decompose(wm.values.data(), wm.rows, wm.cols, rank, SvdMethod::Auto, &ctx);
        write_f32(out_up, {wm.rows, rank}, lr.up, "out_up");
        write_f32(out_down, {rank, wm.cols}, lr.down, "out_down");
    });
}

}  // extern "C"
