#include "backend/cpu/cpu_linear.h"

#include <algorithm>
#include <atomic>
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
                up_ = pack_lowrank_up(*kernels_, w.up.data(), n_, rank_);
                down_ = pack_lowrank_down(*kernels_, to_bf16(down.data(), down.size()), rank_, k_);
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
           down_.size() * sizeof(uint16_t) + fused_up_.memory_bytes() + fused_down_.size() * sizeof(uint16_t) +
           updates_up_.memory_bytes() + updates_down_.memory_bytes();
}

namespace {

// The rank multiple of Nunchaku's branch kernels and files; a fused branch
// with updates is padded to it with zeros (the CPU kernels take any rank).
constexpr int64_t kBranchRankMultiple = 16;

int64_t round_up(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

}  // namespace

bool CpuLinear::fuses_epilogue() const {
    if (updates_rank_ > 0) return false;
    return scheme_ != SVDQ_SCHEME_W4A4 || (format_ == SVDQ_FORMAT_INT4 && (rank_ == 0 || branch_execution_ == SVDQ_BRANCH_FUSED));
}

bool CpuLinear::fuses_updates() const {
    return scheme_ == SVDQ_SCHEME_W4A4 && format_ == SVDQ_FORMAT_INT4 && branch_execution_ == SVDQ_BRANCH_FUSED;
}

void CpuLinear::set_low_rank_updates(const std::vector<LowRankUpdate>& updates) {
    int64_t added = 0;
    for (const LowRankUpdate& u : updates) added += u.rank;
    if (added == 0) {  // back to the layer as prepared
        fused_rank_ = updates_rank_ = 0;
        fused_up_ = PackedWeights{};
        fused_down_ = std::vector<uint16_t>{};
        updates_up_ = PackedWeights{};
        updates_down_ = PackedWeights{};
        return;
    }
    // Built aside, then swapped in: nothing changes if anything throws.
    if (fuses_updates()) {
        // down' = [down_; down_i; 0] and up' = [up, scale_i up_i, 0] along the rank, BF16 like the branch.
        const int64_t rank = round_up(rank_ + added, kBranchRankMultiple);
        std::vector<uint16_t> down(static_cast<size_t>(rank * k_), 0);
        const std::vector<uint16_t> own_down = unpack_lowrank_down(*kernels_, down_, rank_, k_);
        std::copy(own_down.begin(), own_down.end(), down.begin());
        std::vector<float> up(static_cast<size_t>(n_ * rank), 0.0f);
        if (rank_ > 0) {
            const std::vector<float> own = unpack_lowrank_up(*kernels_, up_, n_, rank_);
            for (int64_t i = 0; i < n_; ++i) std::copy_n(own.data() + i * rank_, rank_, up.data() + i * rank);
        }
        int64_t at = rank_;
        for (const LowRankUpdate& u : updates) {
            for (int64_t q = 0; q < u.rank * k_; ++q) down[static_cast<size_t>(at * k_ + q)] = float_to_bf16(u.down[static_cast<size_t>(q)]);
            for (int64_t i = 0; i < n_; ++i)
                for (int64_t q = 0; q < u.rank; ++q)
                    up[static_cast<size_t>(i * rank + at + q)] = u.scale * u.up[static_cast<size_t>(i * u.rank + q)];
            at += u.rank;
        }
        PackedWeights packed_up = pack_lowrank_up(*kernels_, up.data(), n_, rank);
        std::vector<uint16_t> packed_down = pack_lowrank_down(*kernels_, std::move(down), rank, k_);
        fused_up_ = std::move(packed_up);
        fused_down_ = std::move(packed_down);
        fused_rank_ = rank;
    } else {
        std::vector<float> down(static_cast<size_t>(added * k_)), up(static_cast<size_t>(n_ * added));
        int64_t at = 0;
        for (const LowRankUpdate& u : updates) {
            std::copy(u.down.begin(), u.down.end(), down.begin() + at * k_);
            for (int64_t i = 0; i < n_; ++i)
                for (int64_t q = 0; q < u.rank; ++q)
                    up[static_cast<size_t>(i * added + at + q)] = u.scale * u.up[static_cast<size_t>(i * u.rank + q)];
            at += u.rank;
        }
        PackedWeights packed_down = kernels_->pack_f32(down.data(), added, k_);
        PackedWeights packed_up = kernels_->pack_f32(up.data(), n_, added);
        updates_down_ = std::move(packed_down);
        updates_up_ = std::move(packed_up);
        updates_rank_ = added;
    }
}

Epilogue CpuLinear::epilogue(const Epilogue& tail) const {
    Epilogue e = tail;
    e.bias = bias_.empty() ? nullptr : bias_.data();
    // Unfused updates join before the activation, so the layer's path leaves it to them.
    e.activation = updates_rank_ > 0 ? SVDQ_ACTIVATION_NONE : activation_;
    return e;
}

void CpuLinear::forward(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, const Epilogue& tail) const {
    // One cheap pass so NaN/Inf inputs fail loudly instead of turning into
    // silent garbage inside the quantizer.
    if (const int64_t i = find_non_finite(pool, x, m * k_); i >= 0)
        fail(SVDQ_ERROR_NON_FINITE, "x holds a non-finite value (" + value_text(x[i]) + ") at row " + std::to_string(i / k_) +
                                        ", column " + std::to_string(i % k_));
    if ((tail.addend != nullptr || tail.residual != nullptr || tail.heads != nullptr || tail.quantize != nullptr) && !fuses_epilogue())
        fail(SVDQ_ERROR_INTERNAL, "this layer runs passes after its GEMM: its epilogue takes no further stages");
    const Epilogue e = epilogue(tail);
    const int32_t activation = e.activation;
    switch (scheme_) {
        case SVDQ_SCHEME_FLOAT:
            (bf16_weights_ ? run_gemm_bf16 : run_gemm_f32)(*kernels_, pool, {x, m, &weights_, y, e});
            break;
        case SVDQ_SCHEME_W4A16:
            if (format_ == SVDQ_FORMAT_NVFP4)
                run_gemm_f32(*kernels_, pool, {x, m, &weights_, y, e});
            else
                run_gemm_w4a16(*kernels_, pool, {x, m, &weights_, y, e}, s.w4a16_x);
            break;
        case SVDQ_SCHEME_W4A4:
            if (format_ == SVDQ_FORMAT_NVFP4)
                forward_nvfp4(pool, s, x, m, y, activation);
            else if (rank_ > 0 && branch_execution_ == SVDQ_BRANCH_UNFUSED)
                forward_w4a4_unfused(pool, s, x, m, y, activation);
            else
                forward_w4a4(pool, s, x, m, y, e);
            break;
    }
    if (updates_rank_ > 0) add_updates_unfused(pool, s, x, m, y);
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

bool CpuLinear::quantizes_for(const CpuLinear& next) const {
    const auto w4a4_int4 = [](const CpuLinear& l) { return l.scheme_ == SVDQ_SCHEME_W4A4 && l.format_ == SVDQ_FORMAT_INT4 && l.fuses_epilogue(); };
    return w4a4_int4(*this) && w4a4_int4(next) && next.k_ == n_;
}

void CpuLinear::forward_quantizing(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, const CpuLinear& next) const {
    if (!quantizes_for(next)) fail(SVDQ_ERROR_INTERNAL, "this layer cannot quantize its output for the next one");
    const int64_t rank = next.branch_rank();
    s.hidden_q.resize(static_cast<size_t>(m * n_));
    s.hidden_scales.resize(static_cast<size_t>(m * (n_ / kInt4Group)));
    s.hidden_sums.resize(s.hidden_scales.size());
    s.hidden_lowrank.resize(static_cast<size_t>(m * rank));
    s.hidden_partials.resize(static_cast<size_t>(quantize_stage_slots(*kernels_, n_) * m * rank));
    std::atomic<int64_t> first_non_finite{m * n_};
    const QuantizeStage stage{next.inv_smooth_.empty() ? nullptr : next.inv_smooth_.data(),
                              rank ? next.branch_down() : nullptr,
                              rank,
                              next.input_encoding_,
                              {s.hidden_q.data(), s.hidden_scales.data(), s.hidden_sums.data()},
                              s.hidden_partials.data(),
                              s.hidden_lowrank.data(),
                              &first_non_finite};
    Epilogue tail;
    tail.quantize = &stage;
    forward(pool, s, x, m, y, tail);
    // The check fc2's forward makes on its input. fc1's input was checked, so
    // only an overflow gets here: an Inf, or the NaN GELU makes of -Inf.
    if (const int64_t at = first_non_finite.load(); at < m * n_)
        fail(SVDQ_ERROR_NON_FINITE, "the hidden activations (the first layer's output) hold a non-finite value (" +
                                        value_text(y[at]) + ") at row " + std::to_string(at / n_) + ", column " +
                                        std::to_string(at % n_));
}

void CpuLinear::forward_quantized(ThreadPool& pool, CpuScratch& s, int64_t m, float* y, const Epilogue& tail) const {
    const int64_t rank = branch_rank();
    run_gemm_w4a4(*kernels_, pool,
                  {s.hidden_q.data(), s.hidden_scales.data(), s.hidden_sums.data(), m, &weights_,
                   rank ? s.hidden_lowrank.data() : nullptr, rank ? branch_up() : nullptr, rank, y, epilogue(tail)});
}

void CpuLinear::forward_w4a4(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, const Epilogue& e) const {
    const int64_t rank = branch_rank();
    const uint16_t* down = branch_down();
    const PackedWeights* up = branch_up();
    const QuantizedActs acts = activation_scratch(s, m, k_);
    s.lowrank_act.resize(static_cast<size_t>(m * rank));
    run_quantize_act(*kernels_, pool,
                     {x, m, k_, inv_smooth_.empty() ? nullptr : inv_smooth_.data(), rank ? down : nullptr, rank, acts,
                      s.lowrank_act.data(), input_encoding_});
    run_gemm_w4a4(*kernels_, pool,
                  {acts.q, acts.scales, acts.sums, m, &weights_, rank ? s.lowrank_act.data() : nullptr, rank ? up : nullptr,
                   rank, y, e});
}

void CpuLinear::forward_w4a4_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y,
                                     int32_t activation) const {
    const QuantizedActs acts = activation_scratch(s, m, k_);
    // Pass 1 over X: quantize. Then the 4-bit GEMM, and the branch's own passes.
    run_quantize_act(*kernels_, pool,
                     {x, m, k_, inv_smooth_.empty() ? nullptr : inv_smooth_.data(), nullptr, 0, acts, nullptr, input_encoding_});
    run_gemm_w4a4(*kernels_, pool,
                  {acts.q, acts.scales, acts.sums, m, &weights_, nullptr, nullptr, 0, y,
                   {bias_.empty() ? nullptr : bias_.data(), SVDQ_ACTIVATION_NONE}});
    add_branch_unfused(pool, s, x, m, y, activation);
}

void CpuLinear::forward_nvfp4(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, int32_t activation) const {
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
                 {xq.data(), m, &weights_, y, {bias_.empty() ? nullptr : bias_.data(), rank_ ? SVDQ_ACTIVATION_NONE : activation}});
    if (rank_ > 0) add_branch_unfused(pool, s, x, m, y, activation);
}

void CpuLinear::add_branch_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y,
                                   int32_t activation) const {
    s.lowrank_act.resize(static_cast<size_t>(m * rank_));
    s.branch_out.resize(static_cast<size_t>(m * n_));
    run_gemm_bf16(*kernels_, pool, {x, m, &down_packed_, s.lowrank_act.data(), {}});
    run_gemm_bf16(*kernels_, pool, {s.lowrank_act.data(), m, &up_, s.branch_out.data(), {}});
    run_add_activation(pool, y, s.branch_out.data(), m * n_, activation);
}

void CpuLinear::add_updates_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const {
    s.lowrank_act.resize(static_cast<size_t>(m * updates_rank_));
    s.branch_out.resize(static_cast<size_t>(m * n_));
    run_gemm_f32(*kernels_, pool, {x, m, &updates_down_, s.lowrank_act.data(), {}});
    run_gemm_f32(*kernels_, pool, {s.lowrank_act.data(), m, &updates_up_, s.branch_out.data(), {}});
    run_add_activation(pool, y, s.branch_out.data(), m * n_, activation_);
}

}  // namespace svdq
