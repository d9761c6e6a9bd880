// A linear layer packed for the CPU kernels of the level that prepared it; it
// always runs with those kernels, whichever CPU context calls it (contexts of
// other levels may share it). NVFP4 layers keep their 4-bit values dequantized
// to float and quantize activations to NVFP4 and back on the fly: an
// emulation with the same numbers as FP4 hardware (see
// gemm_nvfp4_reference), on the float GEMM with an unfused branch.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/packed_weights.h"

namespace svdq {

class ThreadPool;
struct CpuScratch;

class CpuLinear final : public PreparedLinear {
public:
    CpuLinear(const CpuKernels& kernels, ThreadPool& pool, const LinearWeights& w);

    uint64_t memory_bytes() const override;
    void set_low_rank_updates(const std::vector<LowRankUpdate>& updates) override;
    int64_t in_features() const { return k_; }
    int64_t out_features() const { return n_; }

    // Whether the whole layer is one GEMM whose epilogue can take further
    // stages: not the unfused branch, NVFP4 or unfused updates, which run
    // passes after their GEMM.
    bool fuses_epilogue() const;
    // The fused MLP (CpuBackend::mlp): whether this layer's output can reach
    // `next` quantized by this layer's GEMM: both W4A4 INT4 with fused
    // branches (or none) and no unfused updates.
    bool quantizes_for(const CpuLinear& next) const;
    // y = this layer(x) as forward(), and y quantized for `next` into
    // s.hidden_* by the GEMM's quantize stage; only where quantizes_for(next).
    void forward_quantizing(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, const CpuLinear& next) const;
    // y [m, n] from s.hidden_*, as forward_quantizing left it: the GEMM with
    // the branch's up-projection and the epilogue (tail as forward's).
    void forward_quantized(ThreadPool& pool, CpuScratch& s, int64_t m, float* y, const Epilogue& tail = {}) const;
    // x: [m, k], y: [m, n], both row-major float on the host. tail: stages
    // after the layer's bias and activation (an addend, a gated residual, a head stage;
    // its bias and activation are ignored), only where fuses_epilogue().
    void forward(ThreadPool& pool, CpuScratch& scratch, const float* x, int64_t m, float* y, const Epilogue& tail = {}) const;

private:
    // Each path ends with `activation` (or the epilogue e holding it): the
    // layer's, or none when the unfused updates still have to be added before it.
    void forward_w4a4(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, const Epilogue& e) const;
    void forward_w4a4_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, int32_t activation) const;
    void forward_nvfp4(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, int32_t activation) const;
    // y = activation(y + (X down'^T) up^T) with the branch as float GEMMs.
    void add_branch_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y, int32_t activation) const;
    // y = activation(y + (X updates_down_^T) updates_up_^T), fp32 GEMMs.
    void add_updates_unfused(ThreadPool& pool, CpuScratch& s, const float* x, int64_t m, float* y) const;
    // Whether updates join the branch the W4A4 GEMM's epilogue runs (INT4, fused).
    bool fuses_updates() const;
    // The branch the W4A4 GEMM runs: the layer's own, or the one with the
    // updates appended (rank 0: none).
    int64_t branch_rank() const { return fused_rank_ > 0 ? fused_rank_ : rank_; }
    const uint16_t* branch_down() const { return fused_rank_ > 0 ? fused_down_.data() : down_.data(); }
    const PackedWeights* branch_up() const { return fused_rank_ > 0 ? &fused_up_ : &up_; }
    // The epilogue of forward: the layer's bias and activation, then tail.
    Epilogue epilogue(const Epilogue& tail) const;

    svdq_linear_scheme scheme_;
    svdq_activation activation_;
    svdq_branch_execution branch_execution_;
    svdq_number_format format_;
    ActEncoding input_encoding_;
    int64_t n_, k_, rank_;
    const CpuKernels* kernels_;
    PackedWeights weights_;          // float (BF16 when bf16_weights_), INT4, or the INT4 residual for W4A4
    bool bf16_weights_ = false;
    std::vector<float> bias_;
    std::vector<float> inv_smooth_;  // 1 / lambda, applied to activations
    // The branch. Fused: up_ packed for the W4A4 epilogue, down_ for the
    // activation quantizer, both BF16 as checkpoints store them. Unfused and
    // NVFP4: both packed as BF16 GEMM weights.
    PackedWeights up_;               // [n, rank]
    std::vector<uint16_t> down_;     // BF16 [rank, k] divided by lambda (pack_lowrank_down): reads raw X
    PackedWeights down_packed_;      // unfused and NVFP4 only
    // Low-rank updates (set_low_rank_updates). Fused: the branch with the
    // updates appended along the rank (same layouts as up_ and down_), run
    // instead of it; the layer's own branch stays as it was, to return to.
    // Otherwise: an fp32 branch of its own, scales folded into up.
    int64_t fused_rank_ = 0;         // 0: no updates, run the layer's own branch
    PackedWeights fused_up_;
    std::vector<uint16_t> fused_down_;
    int64_t updates_rank_ = 0;       // 0: no unfused updates
    PackedWeights updates_up_;       // fp32 [n, updates_rank_]
    PackedWeights updates_down_;     // fp32 [updates_rank_, k]
};

}  // namespace svdq
