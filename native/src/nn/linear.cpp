#include "nn/linear.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/cpu_ops.h"
#include "core/context.h"
#include "core/error.h"
#include "core/half.h"
#include "core/tensor.h"
#include "quant/fake_quant.h"
#include "quant/nvfp4_quant.h"

namespace svdq {

namespace {

const Tensor& as_tensor(const svdq_tensor* t) { return *t; }


// NVFP4 weights (one tensor scale) dequantized to float for the float GEMM.
PackedWeights pack_nvfp4_as_float(const CpuKernels& kernels, const std::vector<float>& w, int64_t n, int64_t k,
                                  ThreadPool& pool) {
    std::vector<float> values(w.size());
    fake_quantize_rows(SVDQ_FORMAT_NVFP4, w.data(), n, k, false, values.data(), &pool);
    return kernels.pack_f32(values.data(), n, k);
}

// Stored NVFP4 weights to float, with their channel and tensor scales.
PackedWeights pack_nvfp4_as_float(const CpuKernels& kernels, const Nvfp4Weights& w, ThreadPool& pool) {
    const Nvfp4Matrix& v = w.values;
    std::vector<float> values(static_cast<size_t>(v.rows * v.cols));
    pool.parallel_for(v.rows, [&](int64_t r) {
        float* row = values.data() + r * v.cols;
        dequantize_nvfp4_row(v.packed.data() + r * (v.cols / 2), v.scales.data() + r * v.groups(), v.cols, w.tensor_scale, row);
        if (!w.channel_scales.empty())
            for (int64_t j = 0; j < v.cols; ++j) row[j] *= w.channel_scales[static_cast<size_t>(r)];
    });
    return kernels.pack_f32(values.data(), v.rows, v.cols);
}

// Stored 4-bit values must fit the layer they are handed to.
void check_stored_values(const LinearWeights& w) {
    const std::string shape = "[" + std::to_string(w.n) + ", " + std::to_string(w.k) + "]";
    const auto fits = [&](size_t got, int64_t want) { return got == static_cast<size_t>(want); };
    if (w.quantized_residual) {
        const Int4Matrix& q = *w.quantized_residual;
        require(w.kind != SVDQ_LINEAR_FLOAT && w.format == SVDQ_FORMAT_INT4 && !w.nvfp4_residual, SVDQ_ERROR_INVALID_ARGUMENT,
                "stored INT4 values belong to an INT4 W4A16 or W4A4 layer");
        require(q.rows == w.n && q.cols == w.k && fits(q.packed.size(), w.n * w.k / 2) && fits(q.scales.size(), w.n * q.groups()),
                SVDQ_ERROR_SHAPE_MISMATCH, "the stored INT4 values do not fit the layer's " + shape);
    }
    if (!w.quantized_zeros.empty())
        require(w.kind == SVDQ_LINEAR_W4A16 && w.quantized_residual && fits(w.quantized_zeros.size(), w.n * (w.k / kInt4Group)),
                SVDQ_ERROR_INVALID_ARGUMENT, "zero points belong to the stored INT4 weight of a W4A16 layer, one per 64 columns of " + shape);
    if (w.nvfp4_residual) {
        const Nvfp4Weights& f = *w.nvfp4_residual;
        require(w.kind == SVDQ_LINEAR_W4A4 && w.format == SVDQ_FORMAT_NVFP4, SVDQ_ERROR_INVALID_ARGUMENT,
                "a stored NVFP4 residual belongs to an NVFP4 W4A4 layer");
        require(f.values.rows == w.n && f.values.cols == w.k && fits(f.values.packed.size(), w.n * w.k / 2) &&
                    fits(f.values.scales.size(), w.n * f.values.groups()) && (f.channel_scales.empty() || fits(f.channel_scales.size(), w.n)),
                SVDQ_ERROR_SHAPE_MISMATCH, "the stored NVFP4 values do not fit the layer's " + shape);
    }
}

}  // namespace

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
    require(d.kind >= SVDQ_LINEAR_FLOAT && d.kind <= SVDQ_LINEAR_W4A4, SVDQ_ERROR_INVALID_ARGUMENT,
            "kind " + std::to_string(d.kind) + " is not a svdq_linear_kind value");
    require(d.activation == SVDQ_ACTIVATION_NONE || d.activation == SVDQ_ACTIVATION_GELU_TANH,
            SVDQ_ERROR_INVALID_ARGUMENT, "activation " + std::to_string(d.activation) + " is not a svdq_activation value");
    require(d.branch_execution == SVDQ_BRANCH_FUSED || d.branch_execution == SVDQ_BRANCH_UNFUSED, SVDQ_ERROR_INVALID_ARGUMENT,
            "branch_execution " + std::to_string(d.branch_execution) + " is not a svdq_branch_execution value");
    require(d.format == SVDQ_FORMAT_INT4 || d.format == SVDQ_FORMAT_NVFP4, SVDQ_ERROR_INVALID_ARGUMENT,
            "format " + std::to_string(d.format) + " is not a svdq_weight_format value");
    require(d.weight != nullptr, SVDQ_ERROR_INVALID_ARGUMENT, "weight is NULL");
    const Tensor& weight = as_tensor(d.weight);
    require(weight.ndim() == 2 && weight.dim(0) > 0 && weight.dim(1) > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "weight must be [N, K] with N, K > 0, got " + weight.shape_string());

    LinearWeights w;
    w.kind = static_cast<svdq_linear_kind>(d.kind);
    w.activation = static_cast<svdq_activation>(d.activation);
    w.branch_execution = static_cast<svdq_branch_execution>(d.branch_execution);
    w.format = static_cast<svdq_weight_format>(d.format);
    w.n = weight.dim(0);
    w.k = weight.dim(1);
    const int64_t group = format_group_size(w.format);
    if (w.kind != SVDQ_LINEAR_FLOAT)
        require(w.k % group == 0, SVDQ_ERROR_SHAPE_MISMATCH,
                "K = " + std::to_string(w.k) + " (weight " + weight.shape_string() + ") must be a multiple of the " +
                    (w.format == SVDQ_FORMAT_NVFP4 ? "NVFP4" : "INT4") + " group size " + std::to_string(group));
    w.weight = to_float_checked(weight, "weight");
    if (d.bias != nullptr) {
        require_shape(as_tensor(d.bias), {w.n}, "bias");
        w.bias = to_float_checked(as_tensor(d.bias), "bias");
    }

    const bool has_branch = d.lowrank_up != nullptr || d.lowrank_down != nullptr;
    require(w.kind == SVDQ_LINEAR_W4A4 || (d.smooth == nullptr && !has_branch), SVDQ_ERROR_INVALID_ARGUMENT,
            "smooth and the low-rank branch apply to SVDQ_LINEAR_W4A4 layers only");
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

Linear::Linear(Context& ctx, LinearWeights w)
    : kind_(w.kind),
      activation_(w.activation),
      branch_execution_(w.branch_execution),
      format_(w.kind == SVDQ_LINEAR_FLOAT ? SVDQ_FORMAT_INT4 : w.format),
      input_encoding_{w.input_shift, w.unsigned_input},
      n_(w.n),
      k_(w.k),
      rank_(w.rank),
      kernels_(&ctx.kernels()),
      bias_(std::move(w.bias)) {
    require(std::isfinite(input_encoding_.shift), SVDQ_ERROR_NON_FINITE,
            "input shift " + value_text(input_encoding_.shift) + " is not finite");
    if (input_encoding_.shift != 0.0f || input_encoding_.is_unsigned)
        require(kind_ == SVDQ_LINEAR_W4A4 && format_ == SVDQ_FORMAT_INT4, SVDQ_ERROR_INVALID_ARGUMENT,
                "an input shift or unsigned input quantization applies to INT4 W4A4 layers only, not to " +
                    std::string(kind_ == SVDQ_LINEAR_W4A4 ? "W4A4" : kind_ == SVDQ_LINEAR_W4A16 ? "W4A16" : "FLOAT") +
                    (kind_ == SVDQ_LINEAR_FLOAT ? "" : format_ == SVDQ_FORMAT_NVFP4 ? " NVFP4" : " INT4") + " layers");
    check_stored_values(w);
    switch (kind_) {
        case SVDQ_LINEAR_FLOAT:
            // Weights that are all BF16 values (a BF16 checkpoint's) stay BF16: exact, half the memory.
            bf16_weights_ = std::all_of(w.weight.begin(), w.weight.end(), [](float v) { return round_to_bf16(v) == v; });
            weights_ = bf16_weights_ ? kernels_->pack_bf16(w.weight.data(), n_, k_) : kernels_->pack_f32(w.weight.data(), n_, k_);
            break;
        case SVDQ_LINEAR_W4A16:
            if (w.quantized_residual)
                weights_ = kernels_->pack_w4a16(*w.quantized_residual, w.quantized_zeros.empty() ? nullptr : w.quantized_zeros.data());
            else
                weights_ = format_ == SVDQ_FORMAT_NVFP4 ? pack_nvfp4_as_float(*kernels_, w.weight, n_, k_, ctx.pool())
                                                        : kernels_->pack_w4a16(quantize_int4(w.weight.data(), n_, k_, ctx.pool()), nullptr);
            break;
        case SVDQ_LINEAR_W4A4: {
            if (w.quantized_residual) {
                weights_ = kernels_->pack_w4a4(*w.quantized_residual);
            } else if (w.nvfp4_residual) {
                weights_ = pack_nvfp4_as_float(*kernels_, *w.nvfp4_residual, ctx.pool());
            } else {
                const std::vector<float> residual = smoothed_residual(w, ctx.pool());
                weights_ = format_ == SVDQ_FORMAT_NVFP4 ? pack_nvfp4_as_float(*kernels_, residual, n_, k_, ctx.pool())
                                                        : kernels_->pack_w4a4(quantize_int4(residual.data(), n_, k_, ctx.pool()));
            }
            if (!w.smooth.empty()) {
                inv_smooth_.resize(w.smooth.size());
                for (size_t j = 0; j < w.smooth.size(); ++j) inv_smooth_[j] = 1.0f / w.smooth[j];
            }
            if (rank_ == 0) break;
            const std::vector<float> down = down_reading_input(w);
            if (branch_execution_ == SVDQ_BRANCH_FUSED && format_ == SVDQ_FORMAT_INT4) {
                up_ = kernels_->pack_lowrank_up(w.up.data(), n_, rank_);
                down_ = to_bf16(down.data(), down.size());
            } else {  // the same BF16 values as GEMM weights
                up_ = kernels_->pack_bf16(w.up.data(), n_, rank_);
                down_packed_ = kernels_->pack_bf16(down.data(), rank_, k_);
            }
            break;
        }
    }
}

uint64_t Linear::weight_bytes() const {
    const uint64_t floats = bias_.size() + inv_smooth_.size();
    return weights_.memory_bytes() + up_.memory_bytes() + down_packed_.memory_bytes() + floats * sizeof(float) +
           down_.size() * sizeof(uint16_t);
}

void Linear::forward(Context& ctx, const float* x, int64_t m, float* y) const {
    // One cheap pass so NaN/Inf inputs fail loudly instead of turning into
    // silent garbage inside the quantizer.
    for (int64_t i = 0; i < m * k_; ++i)
        if (!std::isfinite(x[i]))
            fail(SVDQ_ERROR_NON_FINITE, "x holds a non-finite value (" + value_text(x[i]) + ") at row " +
                                            std::to_string(i / k_) + ", column " + std::to_string(i % k_));
    const float* bias = bias_.empty() ? nullptr : bias_.data();
    switch (kind_) {
        case SVDQ_LINEAR_FLOAT:
            (bf16_weights_ ? run_gemm_bf16 : run_gemm_f32)(*kernels_, ctx.pool(), {x, m, &weights_, bias, activation_, y});
            break;
        case SVDQ_LINEAR_W4A16:
            if (format_ == SVDQ_FORMAT_NVFP4)
                run_gemm_f32(*kernels_, ctx.pool(), {x, m, &weights_, bias, activation_, y});
            else
                run_gemm_w4a16(*kernels_, ctx.pool(), {x, m, &weights_, bias, activation_, y});
            break;
        case SVDQ_LINEAR_W4A4:
            if (format_ == SVDQ_FORMAT_NVFP4)
                forward_nvfp4(ctx, x, m, y);
            else if (rank_ > 0 && branch_execution_ == SVDQ_BRANCH_UNFUSED)
                forward_w4a4_unfused(ctx, x, m, y);
            else
                forward_w4a4(ctx, x, m, y);
            break;
    }
}

namespace {

// The context's scratch sized for m quantized activation rows of width k.
QuantizedActs activation_scratch(Scratch& s, int64_t m, int64_t k) {
    const size_t groups = static_cast<size_t>(m * (k / kInt4Group));
    s.act_q.resize(static_cast<size_t>(m * k));
    s.act_scales.resize(groups);
    s.act_sums.resize(groups);
    return {s.act_q.data(), s.act_scales.data(), s.act_sums.data()};
}

}  // namespace

void Linear::forward_w4a4(Context& ctx, const float* x, int64_t m, float* y) const {
    Scratch& s = ctx.scratch();
    const QuantizedActs acts = activation_scratch(s, m, k_);
    s.lowrank_act.resize(static_cast<size_t>(m * rank_));
    run_quantize_act(*kernels_, ctx.pool(),
                     {x, m, k_, inv_smooth_.empty() ? nullptr : inv_smooth_.data(), rank_ ? down_.data() : nullptr, rank_,
                      acts, s.lowrank_act.data(), input_encoding_});
    run_gemm_w4a4(*kernels_, ctx.pool(),
                  {acts.q, acts.scales, acts.sums, m, &weights_, rank_ ? s.lowrank_act.data() : nullptr,
                   rank_ ? &up_ : nullptr, rank_, bias_.empty() ? nullptr : bias_.data(), activation_, y});
}

void Linear::forward_w4a4_unfused(Context& ctx, const float* x, int64_t m, float* y) const {
    const QuantizedActs acts = activation_scratch(ctx.scratch(), m, k_);
    // Pass 1 over X: quantize. Then the 4-bit GEMM, and the branch's own passes.
    run_quantize_act(*kernels_, ctx.pool(),
                     {x, m, k_, inv_smooth_.empty() ? nullptr : inv_smooth_.data(), nullptr, 0, acts, nullptr, input_encoding_});
    run_gemm_w4a4(*kernels_, ctx.pool(),
                  {acts.q, acts.scales, acts.sums, m, &weights_, nullptr, nullptr, 0, bias_.empty() ? nullptr : bias_.data(),
                   SVDQ_ACTIVATION_NONE, y});
    add_branch_unfused(ctx, x, m, y);
}

void Linear::forward_nvfp4(Context& ctx, const float* x, int64_t m, float* y) const {
    // Q(X / lambda) per token, back to float: the values FP4 hardware would multiply.
    std::vector<float> xq(static_cast<size_t>(m * k_));
    if (inv_smooth_.empty()) {
        fake_quantize_rows(SVDQ_FORMAT_NVFP4, x, m, k_, true, xq.data(), &ctx.pool());
    } else {
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < k_; ++j) xq[static_cast<size_t>(i * k_ + j)] = x[i * k_ + j] * inv_smooth_[static_cast<size_t>(j)];
        fake_quantize_rows(SVDQ_FORMAT_NVFP4, xq.data(), m, k_, true, xq.data(), &ctx.pool());
    }
    run_gemm_f32(*kernels_, ctx.pool(),
                 {xq.data(), m, &weights_, bias_.empty() ? nullptr : bias_.data(),
                  rank_ ? SVDQ_ACTIVATION_NONE : activation_, y});
    if (rank_ > 0) add_branch_unfused(ctx, x, m, y);
}

void Linear::add_branch_unfused(Context& ctx, const float* x, int64_t m, float* y) const {
    Scratch& s = ctx.scratch();
    s.lowrank_act.resize(static_cast<size_t>(m * rank_));
    s.branch_out.resize(static_cast<size_t>(m * n_));
    run_gemm_bf16(*kernels_, ctx.pool(), {x, m, &down_packed_, nullptr, SVDQ_ACTIVATION_NONE, s.lowrank_act.data()});
    run_gemm_bf16(*kernels_, ctx.pool(), {s.lowrank_act.data(), m, &up_, nullptr, SVDQ_ACTIVATION_NONE, s.branch_out.data()});
    run_add_activation(ctx.pool(), y, s.branch_out.data(), m * n_, activation_);
}

}  // namespace svdq
