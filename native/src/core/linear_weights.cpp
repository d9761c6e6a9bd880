#include "core/linear_weights.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/number_format.h"
#include "core/numerics/fake_quant.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

const Tensor& as_tensor(const svdq_tensor* t) { return *t; }

// Stored 4-bit values must fit the layer they are handed to.
void check_stored_values(const LinearWeights& w) {
    const std::string shape = "[" + std::to_string(w.n) + ", " + std::to_string(w.k) + "]";
    const auto fits = [&](size_t got, int64_t want) { return got == static_cast<size_t>(want); };
    if (w.quantized_residual) {
        const Int4Matrix& q = *w.quantized_residual;
        require(w.scheme != SVDQ_SCHEME_FLOAT && w.format == SVDQ_FORMAT_INT4 && !w.nvfp4_residual, SVDQ_ERROR_INVALID_ARGUMENT,
                "stored INT4 values belong to an INT4 W4A16 or W4A4 layer");
        require(q.rows == w.n && q.cols == w.k && fits(q.packed.size(), w.n * w.k / 2) && fits(q.scales.size(), w.n * q.groups()),
                SVDQ_ERROR_SHAPE_MISMATCH, "the stored INT4 values do not fit the layer's " + shape);
    }
    if (!w.quantized_zeros.empty())
        require(w.scheme == SVDQ_SCHEME_W4A16 && w.quantized_residual && fits(w.quantized_zeros.size(), w.n * (w.k / kInt4Group)),
                SVDQ_ERROR_INVALID_ARGUMENT, "zero points belong to the stored INT4 weight of a W4A16 layer, one per 64 columns of " + shape);
    if (w.nvfp4_residual) {
        const Nvfp4Weights& f = *w.nvfp4_residual;
        require(w.scheme == SVDQ_SCHEME_W4A4 && w.format == SVDQ_FORMAT_NVFP4, SVDQ_ERROR_INVALID_ARGUMENT,
                "a stored NVFP4 residual belongs to an NVFP4 W4A4 layer");
        require(f.values.rows == w.n && f.values.cols == w.k && fits(f.values.packed.size(), w.n * w.k / 2) &&
                    fits(f.values.scales.size(), w.n * f.values.groups()) && (f.channel_scales.empty() || fits(f.channel_scales.size(), w.n)),
                SVDQ_ERROR_SHAPE_MISMATCH, "the stored NVFP4 values do not fit the layer's " + shape);
    }
}

}  // namespace

void check_linear_weights(const LinearWeights& w) {
    require_scheme_format(w.scheme, w.format, "linear layer [" + std::to_string(w.n) + ", " + std::to_string(w.k) + "]");
    require(std::isfinite(w.input_shift), SVDQ_ERROR_NON_FINITE, "input shift " + value_text(w.input_shift) + " is not finite");
    if (w.input_shift != 0.0f || w.unsigned_input)
        require(w.scheme == SVDQ_SCHEME_W4A4 && w.format == SVDQ_FORMAT_INT4, SVDQ_ERROR_INVALID_ARGUMENT,
                "an input shift or unsigned input quantization applies to INT4 W4A4 layers only, not to " +
                    std::string(scheme_name(w.scheme)) + " " + format_name(w.format) + " layers");
    check_stored_values(w);
}

// out[i, j] = w[i, j] * s[j] - (up * down)[i, j], rows across threads.
std::vector<float> smoothed_residual(const LinearWeights& w, ThreadPool& pool) {
    std::vector<float> r(static_cast<size_t>(w.n * w.k));
    pool.parallel_for(w.n, [&](int64_t i) {
        float* row = r.data() + i * w.k;
        for (int64_t j = 0; j < w.k; ++j)
            row[j] = w.weight[static_cast<size_t>(i * w.k + j)] * (w.smooth.empty() ? 1.0f : w.smooth[static_cast<size_t>(j)]);
        // Four ranks per pass over the row: the loop is bound by its loads and stores.
        const float* u = w.up.data() + i * w.rank;
        int64_t q = 0;
        for (; q + 4 <= w.rank; q += 4) {
            const float *d0 = w.down.data() + q * w.k, *d1 = d0 + w.k, *d2 = d1 + w.k, *d3 = d2 + w.k;
            for (int64_t j = 0; j < w.k; ++j) row[j] -= (u[q] * d0[j] + u[q + 1] * d1[j]) + (u[q + 2] * d2[j] + u[q + 3] * d3[j]);
        }
        for (; q < w.rank; ++q)
            for (int64_t j = 0; j < w.k; ++j) row[j] -= u[q] * w.down[static_cast<size_t>(q * w.k + j)];
    });
    return r;
}

std::vector<float> down_reading_input(const LinearWeights& w) {
    std::vector<float> down = w.down;
    if (w.smooth.empty() || w.down_reads_input) return down;
    for (int64_t j = 0; j < w.k; ++j) {
        const float inv = 1.0f / w.smooth[static_cast<size_t>(j)];  // as Linear applies it to activations
        for (int64_t q = 0; q < w.rank; ++q) down[static_cast<size_t>(q * w.k + j)] *= inv;
    }
    return down;
}

LinearWeights linear_weights_from_desc(const svdq_linear_desc& d) {
    const svdq_linear_scheme scheme = scheme_value(d.scheme, "scheme");
    require(d.activation == SVDQ_ACTIVATION_NONE || d.activation == SVDQ_ACTIVATION_GELU_TANH,
            SVDQ_ERROR_INVALID_ARGUMENT, "activation " + std::to_string(d.activation) + " is not a svdq_activation value");
    require(d.branch_execution == SVDQ_BRANCH_FUSED || d.branch_execution == SVDQ_BRANCH_UNFUSED, SVDQ_ERROR_INVALID_ARGUMENT,
            "branch_execution " + std::to_string(d.branch_execution) + " is not a svdq_branch_execution value");
    const svdq_number_format format = format_value(d.format, "format");
    require_scheme_format(scheme, format, "svdq_linear_desc");
    require(d.weight != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "weight is NULL");
    const Tensor& weight = as_tensor(d.weight);
    require(weight.ndim() == 2 && weight.dim(0) > 0 && weight.dim(1) > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "weight must be [N, K] with N, K > 0, got " + weight.shape_string());

    LinearWeights w;
    w.scheme = scheme;
    w.activation = static_cast<svdq_activation>(d.activation);
    w.branch_execution = static_cast<svdq_branch_execution>(d.branch_execution);
    w.format = format;
    w.n = weight.dim(0);
    w.k = weight.dim(1);
    if (w.scheme != SVDQ_SCHEME_FLOAT) {
        const int64_t group = format_group_size(w.format);
        require(w.k % group == 0, SVDQ_ERROR_SHAPE_MISMATCH,
                "K = " + std::to_string(w.k) + " (weight " + weight.shape_string() + ") must be a multiple of the " +
                    format_name(w.format) + " group size " + std::to_string(group));
    }
    w.weight = to_float_checked(weight, "weight");
    if (d.bias != nullptr) {
        require_shape(as_tensor(d.bias), {w.n}, "bias");
        w.bias = to_float_checked(as_tensor(d.bias), "bias");
    }

    const bool has_branch = d.lowrank_up != nullptr || d.lowrank_down != nullptr;
    require(w.scheme == SVDQ_SCHEME_W4A4 || (d.smooth == nullptr && !has_branch), SVDQ_ERROR_INVALID_ARGUMENT,
            "smooth and the low-rank branch apply to SVDQ_SCHEME_W4A4 layers only");
    if (d.smooth != nullptr) {
        require_shape(as_tensor(d.smooth), {w.k}, "smooth");
        w.smooth = to_float_checked(as_tensor(d.smooth), "smooth");
        for (size_t j = 0; j < w.smooth.size(); ++j)
            require(w.smooth[j] > 0.0f, SVDQ_ERROR_INVALID_ARGUMENT,
                    "smooth[" + std::to_string(j) + "] = " + value_text(w.smooth[j]) + " must be positive");
    }
    if (has_branch) {
        require(d.lowrank_up != nullptr && d.lowrank_down != nullptr, SVDQ_ERROR_INVALID_ARGUMENT,
                "lowrank_up and lowrank_down must be given together");
        const Tensor& up = as_tensor(d.lowrank_up);
        require(up.ndim() == 2 && up.dim(1) > 0, SVDQ_ERROR_SHAPE_MISMATCH,
                "lowrank_up must be [N, r] with r > 0, got " + up.shape_string());
        w.rank = up.dim(1);
        require_shape(up, {w.n, w.rank}, "lowrank_up");
        require_shape(as_tensor(d.lowrank_down), {w.rank, w.k}, "lowrank_down");
        w.up = to_float_checked(up, "lowrank_up");
        w.down = to_float_checked(as_tensor(d.lowrank_down), "lowrank_down");
    }
    return w;
}

}  // namespace svdq
