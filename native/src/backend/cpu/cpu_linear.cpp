#include "backend/cpu/cpu_linear.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/half.h"
#include "core/numerics/fake_quant.h"
#include "core/numerics/nvfp4_quant.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

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

}  // namespace

CpuLinear::CpuLinear(const CpuKernels& kernels, ThreadPool& pool, const LinearWeights& w)
    : scheme_(w.scheme),
      activation_(w.activation),
      branch_execution_(w.branch_execution),
      format_(w.format),
      input_encoding_{w.input_shift, w.unsigned_input},
      n_(w.n),
      k_(w.k),
      rank_(w.rank),
      kernels_(&kernels),
      bias_(w.bias) {
    check_linear_weights(w);
    switch (scheme_) {
        case SVDQ_SCHEME_FLOAT:
            // Weights that are all BF16 values (a BF16 checkpoint's) stay BF16: exact, half the memory.
            bf16_weights_ = std::all_of(w.weight.begin(), w.weight.end(), [](float v) { return round_to_bf16(v) == v; });
            weights_ = bf16_weights_ ? kernels_->pack_bf16(w.weight.data(), n_, k_) : kernels_->pack_f32(w.weight.data(), n_, k_);
            break;
        case SVDQ_SCHEME_W4A16:
            if (w.quantized_residual)
                weights_ = kernels_->pack_w4a16(*w.quantized_residual, w.quantized_zeros.empty() ? nullptr : w.quantized_zeros.data());
            else
                weights_ = format_ == SVDQ_FORMAT_NVFP4 ? pack_nvfp4_as_float(*kernels_, w.weight, n_, k_, pool)
                                                        : kernels_->pack_w4a16(quantize_int4(w.weight.data(), n_, k_, pool), nullptr);
            break;
        case SVDQ_SCHEME_W4A4: {
            if (w.quantized_residual) {
                weights_ = kernels_->pack_w4a4(*w.quantized_residual);
            } else if (w.nvfp4_residual) {
                weights_ = pack_nvfp4_as_float(*kernels_, *w.nvfp4_residual, pool);
            } else {
                const std::vector<float> residual = smoothed_residual(w, pool);
                weights_ = format_ == SVDQ_FORMAT_NVFP4 ? pack_nvfp4_as_float(*kernels_, residual, n_, k_, pool)
                                                        : kernels_->pack_w4a4(quantize_int4(residual.data(), n_, k_, pool));
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

uint64_t CpuLinear::memory_bytes() const {
    const uint64_t floats = bias_.size() + inv_smooth_.size();
    return weights_.memory_bytes() + up_.memory_bytes() + down_packed_.memory_bytes() + floats * sizeof(float) +
           down_.size() * sizeof(uint16_t);
}

void CpuLinear::forward(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const {
    // One cheap pass so NaN/Inf inputs fail loudly instead of turning into
    // silent garbage inside the quantizer.
    for (int64_t i = 0; i < m * k_; ++i)
        if (!std::isfinite(x[i]))
            fail(SVDQ_ERROR_NON_FINITE, "x holds a non-finite value (" + value_text(x[i]) + ") at row " +
                                            std::to_string(i / k_) + ", column " + std::to_string(i % k_));
    const float* bias = bias_.empty() ? nullptr : bias_.data();
    switch (scheme_) {
        case SVDQ_SCHEME_FLOAT:
            (bf16_weights_ ? run_gemm_bf16 : run_gemm_f32)(*kernels_, pool, {x, m, &weights_, bias, activation_, y});
            break;
        case SVDQ_SCHEME_W4A16:
            if (format_ == SVDQ_FORMAT_NVFP4)
                run_gemm_f32(*kernels_, pool, {x, m, &weights_, bias, activation_, y});
            else
                run_gemm_w4a16(*kernels_, pool, {x, m, &weights_, bias, activation_, y});
            break;
        case SVDQ_SCHEME_W4A4:
            if (format_ == SVDQ_FORMAT_NVFP4)
                forward_nvfp4(pool, s, x, m, y);
            else if (rank_ > 0 && branch_execution_ == SVDQ_BRANCH_UNFUSED)
                forward_w4a4_unfused(pool, s, x, m, y);
            else
                forward_w4a4(pool, s, x, m, y);
            break;
    }
}

namespace {

// The context's scratch sized for m quantized activation rows of width k.
QuantizedActs activation_scratch(CpuScratch& s, int64_t m, int64_t k) {
    const size_t groups = static_cast<size_t>(m * (k / kInt4Group));
    s.act_q.resize(static_cast<size_t>(m * k));
    s.act_scales.resize(groups);
    s.act_sums.resize(groups);
    return {s.act_q.data(), s.act_scales.data(), s.act_sums.data()};
}

}  // namespace

void CpuLinear::forward_w4a4(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const {
    const QuantizedActs acts = activation_scratch(s, m, k_);
    s.lowrank_act.resize(static_cast<size_t>(m * rank_));
    run_quantize_act(*kernels_, pool,
                     {x, m, k_, inv_smooth_.empty() ? nullptr : inv_smooth_.data(), rank_ ? down_.data() : nullptr, rank_,
                      acts, s.lowrank_act.data(), input_encoding_});
    run_gemm_w4a4(*kernels_, pool,
                  {acts.q, acts.scales, acts.sums, m, &weights_, rank_ ? s.lowrank_act.data() : nullptr,
                   rank_ ? &up_ : nullptr, rank_, bias_.empty() ? nullptr : bias_.data(), activation_, y});
}

void CpuLinear::forward_w4a4_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const {
    const QuantizedActs acts = activation_scratch(s, m, k_);
    // Pass 1 over X: quantize. Then the 4-bit GEMM, and the branch's own passes.
    run_quantize_act(*kernels_, pool,
                     {x, m, k_, inv_smooth_.empty() ? nullptr : inv_smooth_.data(), nullptr, 0, acts, nullptr, input_encoding_});
    run_gemm_w4a4(*kernels_, pool,
                  {acts.q, acts.scales, acts.sums, m, &weights_, nullptr, nullptr, 0, bias_.empty() ? nullptr : bias_.data(),
                   SVDQ_ACTIVATION_NONE, y});
    add_branch_unfused(pool, s, x, m, y);
}

void CpuLinear::forward_nvfp4(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const {
    // Q(X / lambda) per token, back to float: the values FP4 hardware would multiply.
    std::vector<float>& xq = s.fake_quant_x;
    xq.resize(static_cast<size_t>(m * k_));
    if (inv_smooth_.empty()) {
        fake_quantize_rows(SVDQ_FORMAT_NVFP4, x, m, k_, true, xq.data(), &pool);
    } else {
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < k_; ++j) xq[static_cast<size_t>(i * k_ + j)] = x[i * k_ + j] * inv_smooth_[static_cast<size_t>(j)];
        fake_quantize_rows(SVDQ_FORMAT_NVFP4, xq.data(), m, k_, true, xq.data(), &pool);
    }
    run_gemm_f32(*kernels_, pool,
                 {xq.data(), m, &weights_, bias_.empty() ? nullptr : bias_.data(),
                  rank_ ? SVDQ_ACTIVATION_NONE : activation_, y});
    if (rank_ > 0) add_branch_unfused(pool, s, x, m, y);
}

void CpuLinear::add_branch_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const {
    s.lowrank_act.resize(static_cast<size_t>(m * rank_));
    s.branch_out.resize(static_cast<size_t>(m * n_));
    run_gemm_bf16(*kernels_, pool, {x, m, &down_packed_, nullptr, SVDQ_ACTIVATION_NONE, s.lowrank_act.data()});
    run_gemm_bf16(*kernels_, pool, {s.lowrank_act.data(), m, &up_, nullptr, SVDQ_ACTIVATION_NONE, s.branch_out.data()});
    run_add_activation(pool, y, s.branch_out.data(), m * n_, activation_);
}

}  // namespace svdq
