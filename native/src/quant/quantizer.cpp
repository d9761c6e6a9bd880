#include "quant/quantizer.h"

#include <Eigen/Dense>
#include <chrono>
#include <cmath>

#include "backend/context.h"
#include "core/error.h"
#include "core/half.h"
#include "core/number_format.h"
#include "core/thread_pool.h"
#include "core/numerics/activations.h"
#include "core/numerics/fake_quant.h"
#include "quant/lowrank.h"
#include "quant/smooth_search.h"
#include "quant/smoothing.h"

namespace svdq {

namespace {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapF = Eigen::Map<MatrixF>;
using ConstMapF = Eigen::Map<const MatrixF>;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool smooths(svdq_quant_method m) { return m == SVDQ_QUANT_SMOOTHQUANT || m == SVDQ_QUANT_SVDQUANT; }
bool has_branch(svdq_quant_method m) { return m == SVDQ_QUANT_LOWRANK || m == SVDQ_QUANT_SVDQUANT; }

SearchProblem search_problem(const std::vector<LayerToQuantize>& layers, int64_t k, const float* calib, int64_t m,
                             const QuantizerOptions& o, Context& ctx) {
    ThreadPool& pool = ctx.pool();
    SearchProblem p;
    p.gemm = &ctx.host_gemm();
    p.format = o.format;
    p.k = k;
    p.rank = has_branch(o.method) ? o.rank : 0;
    p.xmax = column_absmax(calib, m, k, pool);
    p.wmax.assign(static_cast<size_t>(k), 0.0f);
    p.tokens = std::min(m, o.score_tokens);
    p.x = sample_rows(calib, m, k, p.tokens);
    for (const LayerToQuantize& l : layers) {
        const std::vector<float> wmax = column_absmax(l.weight.data(), l.n, k, pool);
        for (size_t j = 0; j < wmax.size(); ++j) p.wmax[j] = std::max(p.wmax[j], wmax[j]);
        SearchLayer s;
        // Enough rows that the subset's rank-r SVD is a fair proxy.
        s.rows = std::min(l.n, std::max(o.score_rows, 4 * p.rank));
        s.weight = sample_rows(l.weight.data(), l.n, k, s.rows);
        const ConstMapF w(s.weight.data(), s.rows, k);
        s.packed = p.gemm->pack(s.weight.data(), s.rows, k);
        s.weight_t.resize(s.weight.size());
        MapF(s.weight_t.data(), k, s.rows) = w.transpose();
        s.y_ref_t.resize(static_cast<size_t>(s.rows * p.tokens));
        MapF y_ref_t(s.y_ref_t.data(), s.rows, p.tokens);
        y_ref_t.noalias() = w * ConstMapF(p.x.data(), p.tokens, k).transpose();
        s.ref_norm2 = std::max(static_cast<double>(y_ref_t.squaredNorm()), 1e-30);
        p.layers.push_back(std::move(s));
    }
    return p;
}

// ||W - L - Q(W - L)||_F for the branch L = up down: what refinement lowers.
double residual_error(const MatrixF& w, const LowRank& lr, int64_t n, int64_t k, svdq_number_format format,
                      ThreadPool& pool, MatrixF* quantized = nullptr) {
    MatrixF r = w - ConstMapF(lr.up.data(), n, lr.rank) * ConstMapF(lr.down.data(), lr.rank, k);
    MatrixF q(n, k);
    fake_quantize_rows(format, r.data(), n, k, false, q.data(), &pool);
    const double e = (r - q).norm();
    if (quantized) *quantized = std::move(q);
    return e;
}

// The rank-r branch of the smoothed weight, refined while the quantization error falls.
LowRank branch_of(const MatrixF& ws, int64_t n, int64_t k, const QuantizerOptions& o, ThreadPool& pool, Context& ctx,
                  int& rounds) {
    LowRank lr = lowrank_decompose(ws.data(), n, k, o.rank, SvdMethod::Auto, &ctx);
    if (o.refine_iterations == 0) return lr;
    MatrixF q;
    double error = residual_error(ws, lr, n, k, o.format, pool, &q);
    for (int i = 0; i < o.refine_iterations; ++i) {
        const MatrixF target = ws - q;  // L = SVD_r(W - Q(W - L))
        LowRank next = lowrank_decompose(target.data(), n, k, o.rank, SvdMethod::Auto, &ctx);
        MatrixF next_q;
        const double next_error = residual_error(ws, next, n, k, o.format, pool, &next_q);
        if (next_error >= error) break;
        lr = std::move(next);
        q = std::move(next_q);
        error = next_error;
        ++rounds;
    }
    return lr;
}

std::string layer_name(const std::vector<std::string>& names, size_t i) {
    return i < names.size() ? names[i] : "layer " + std::to_string(i);
}

// SVDQ_ERROR_NON_FINITE unless every value of the [rows, cols] matrix is in the quantizer's domain.
void require_in_domain(const float* a, int64_t rows, int64_t cols, const std::string& what) {
    for (int64_t i = 0; i < rows * cols; ++i)
        if (!(std::fabs(a[i]) < kQuantizerMaxMagnitude))
            fail(SVDQ_ERROR_NON_FINITE, what + " " + value_text(a[i]) + " at row " + std::to_string(i / cols) +
                                            ", column " + std::to_string(i % cols) +
                                            "; the quantizer accepts magnitudes below 2^32 (4.29e+09)");
}

// SVDQ_ERROR_NON_FINITE when quantizing produced a NaN or Inf (the last guard before a file is written).
void require_finite_result(const std::vector<float>& v, const std::string& what, const std::string& layer) {
    for (size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i]))
            fail(SVDQ_ERROR_NON_FINITE, "quantizing " + layer + " produced a non-finite " + what + " value (" + value_text(v[i]) +
                                            ") at flat index " + std::to_string(i) + "; nothing was written");
}

}  // namespace

const char* method_name(svdq_quant_method method) {
    switch (method) {
        case SVDQ_QUANT_RTN: return "rtn";
        case SVDQ_QUANT_SMOOTHQUANT: return "smoothquant";
        case SVDQ_QUANT_LOWRANK: return "lowrank";
        case SVDQ_QUANT_SVDQUANT: return "svdquant";
        case SVDQ_QUANT_W4A16: return "w4a16";
    }
    return "unknown";
}

void validate(const QuantizerOptions& o) {
    require(o.method >= SVDQ_QUANT_RTN && o.method <= SVDQ_QUANT_W4A16, SVDQ_ERROR_INVALID_ARGUMENT,
            "method " + std::to_string(o.method) + " is not a svdq_quant_method value");
    require(o.format == SVDQ_FORMAT_INT4 || o.format == SVDQ_FORMAT_NVFP4, SVDQ_ERROR_INVALID_ARGUMENT,
            "format " + std::to_string(o.format) + " is not a format the quantizer writes (INT4 or NVFP4)");
    require_scheme_format(o.method == SVDQ_QUANT_W4A16 ? SVDQ_SCHEME_W4A16 : SVDQ_SCHEME_W4A4, o.format,
                          std::string("method ") + method_name(o.method));
    require(o.search >= SVDQ_SEARCH_COARSE_TO_FINE && o.search <= SVDQ_SEARCH_FIXED, SVDQ_ERROR_INVALID_ARGUMENT,
            "search " + std::to_string(o.search) + " is not a svdq_smooth_search value");
    require(o.rank > 0 && o.rank % 16 == 0, SVDQ_ERROR_INVALID_ARGUMENT,
            "rank " + std::to_string(o.rank) + " must be a positive multiple of 16");
    require(o.grid_steps >= 1 && o.grid_steps <= 1000, SVDQ_ERROR_INVALID_ARGUMENT,
            "grid_steps " + std::to_string(o.grid_steps) + " must be in 1..1000");
    require(std::isfinite(o.alpha) && std::isfinite(o.beta) && o.alpha >= 0 && o.alpha <= 1 && o.beta >= 0 && o.beta <= 1,
            SVDQ_ERROR_INVALID_ARGUMENT, "alpha and beta must be in [0, 1]");
    require(o.refine_iterations >= 0, SVDQ_ERROR_INVALID_ARGUMENT, "refine_iterations must not be negative");
    require(o.score_tokens > 0 && o.score_rows > 0, SVDQ_ERROR_INVALID_ARGUMENT,
            "score_tokens and score_rows must be positive");
}

std::vector<float> sample_rows(const float* a, int64_t rows, int64_t cols, int64_t count) {
    count = std::min(count, rows);
    std::vector<float> out(static_cast<size_t>(count * cols));
    for (int64_t i = 0; i < count; ++i)
        std::copy_n(a + (i * rows / count) * cols, cols, out.data() + i * cols);
    return out;
}

QuantizedLayers quantize_layers(const std::vector<LayerToQuantize>& layers, int64_t k, const float* calib, int64_t m,
                                const QuantizerOptions& o, Context& ctx, const std::vector<std::string>& names) {
    ThreadPool& pool = ctx.pool();
    validate(o);
    require(!smooths(o.method) || (calib != nullptr && m > 0), SVDQ_ERROR_INVALID_ARGUMENT,
            "calibration activations are required by the smoothquant and svdquant methods");
    const int64_t group = format_group_size(o.format);
    require(k % group == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "K = " + std::to_string(k) + " must be a multiple of the " + (o.format == SVDQ_FORMAT_NVFP4 ? "NVFP4" : "INT4") +
                " group size " + std::to_string(group));
    for (const LayerToQuantize& l : layers)
        require(!has_branch(o.method) || o.rank <= std::min(l.n, k), SVDQ_ERROR_INVALID_ARGUMENT,
                "rank " + std::to_string(o.rank) + " exceeds min(N, K) = " + std::to_string(std::min(l.n, k)));

    for (size_t i = 0; i < layers.size(); ++i) {
        const LayerToQuantize& l = layers[i];
        require_in_domain(l.weight.data(), l.n, k, layer_name(names, i) + ": weight holds");
        require_in_domain(l.bias.data(), 1, static_cast<int64_t>(l.bias.size()), layer_name(names, i) + ": bias holds");
    }
    if (calib != nullptr) require_in_domain(calib, m, k, "the calibration activations hold");

    QuantizedLayers out;
    out.smooth.assign(static_cast<size_t>(k), 1.0f);
    auto start = std::chrono::steady_clock::now();
    if (smooths(o.method)) {
        const SearchProblem problem = search_problem(layers, k, calib, m, o, ctx);
        SearchResult best{o.alpha, o.beta, 0.0, 0};
        if (o.search != SVDQ_SEARCH_FIXED) best = search_smoothing(problem, o.search, o.grid_steps, pool);
        out.alpha = best.alpha;
        out.beta = best.beta;
        out.candidates = best.candidates;
        out.smooth = smoothing_from_maxima(problem.xmax, problem.wmax, best.alpha, best.beta);
        // Checkpoints store lambda in BF16 (as Nunchaku does); a lambda that
        // is already BF16 makes the layer built here the one a file reloads.
        for (float& v : out.smooth) v = round_to_bf16(v);
    }
    out.search_seconds = seconds_since(start);

    start = std::chrono::steady_clock::now();
    const Eigen::Map<const Eigen::RowVectorXf> lam(out.smooth.data(), k);
    for (const LayerToQuantize& l : layers) {
        LinearWeights w;
        w.scheme = o.method == SVDQ_QUANT_W4A16 ? SVDQ_SCHEME_W4A16 : SVDQ_SCHEME_W4A4;
        w.activation = o.activation;
        w.branch_execution = o.branch_execution;
        w.format = o.format;
        w.n = l.n;
        w.k = k;
        if (smooths(o.method)) w.smooth = out.smooth;
        if (has_branch(o.method)) {
            const MatrixF ws = ConstMapF(l.weight.data(), l.n, k).array().rowwise() * lam.array();
            LowRank lr = branch_of(ws, l.n, k, o, pool, ctx, out.refine_rounds);
            w.rank = lr.rank;
            w.up = std::move(lr.up);
            w.down = std::move(lr.down);
        }
        w.weight = l.weight;
        w.bias = l.bias;
        const std::string name = layer_name(names, out.layers.size());
        require_finite_result(w.smooth, "smooth", name);
        require_finite_result(w.up, "low-rank up", name);
        require_finite_result(w.down, "low-rank down", name);
        require_finite_result(smoothed_residual(w, pool), "residual", name);
        out.layers.push_back(std::move(w));
    }
    out.svd_seconds = seconds_since(start);
    return out;
}

float relative_output_error(Context& ctx, const std::vector<const Linear*>& linears,
                            const std::vector<LayerToQuantize>& layers, const float* x, int64_t m, int64_t k) {
    double diff = 0.0, norm = 0.0;
    // X W^T on the engine's float GEMM, as (W X^T)^T so only the small X is packed, once for all layers.
    const std::unique_ptr<HostMatrix> xp = ctx.host_gemm().pack(x, m, k);
    for (size_t i = 0; i < linears.size(); ++i) {
        const int64_t n = layers[i].n;
        MatrixF y(m, n);
        linears[i]->forward(ctx, x, m, y.data());
        MatrixF ref_t(n, m);
        ctx.host_gemm().multiply(layers[i].weight.data(), n, *xp, ref_t.data(), ctx.pool());
        MatrixF ref = ref_t.transpose();
        if (!layers[i].bias.empty()) ref.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(layers[i].bias.data(), n);
        if (linears[i]->activation() == SVDQ_ACTIVATION_GELU_TANH) ref = ref.unaryExpr([](float v) { return gelu_tanh(v); });
        diff += static_cast<double>((y - ref).squaredNorm());
        norm += static_cast<double>(ref.squaredNorm());
    }
    return static_cast<float>(std::sqrt(diff / std::max(norm, 1e-30)));
}

}  // namespace svdq
