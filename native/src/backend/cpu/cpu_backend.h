// The CPU backend: kernels of one level (scalar, AVX2, ...) run over the
// context's host threads, on host memory. Its scratch (quantized activations,
// branch intermediates) is reused across calls, so one context's forwards
// stay allocation-free once shapes repeat.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace svdq {

class ThreadPool;

struct CpuScratch {
    std::vector<int8_t> act_q;
    std::vector<float> act_scales;
    std::vector<int32_t> act_sums;
    std::vector<float> lowrank_act;
    // The fused MLP's hidden activations, quantized for fc2 by fc1's GEMM,
    // and fc2's down-projection of them (summed from per-column-tile partials).
    std::vector<int8_t> hidden_q;
    std::vector<float> hidden_scales;
    std::vector<int32_t> hidden_sums;
    std::vector<float> hidden_lowrank, hidden_partials;
    std::vector<float> branch_out;    // unfused branch only
    std::vector<float> fake_quant_x;  // NVFP4 only
    std::vector<float> w4a16_x;       // W4A16: x as the level's prepare_w4a16 leaves it
    std::vector<double> group_sums;   // group_norm: per work item and group
    std::vector<float> group_affine;  // group_norm: per channel scale and shift
};

// Not final: tests derive from it to count its allocations.
class CpuBackend : public Backend {
public:
    CpuBackend(ThreadPool& pool, svdq_cpu_level level);

    const CpuKernels& kernels() const { return *kernels_; }
    ThreadPool& pool() const { return pool_; }
    CpuScratch& scratch() { return scratch_; }

    svdq_backend kind() const override { return SVDQ_BACKEND_CPU; }
    svdq_cpu_level cpu_level() const override { return kernels_->level; }
    std::string description() const override;
    bool reads_host_memory() const override { return true; }

    void* allocate(size_t bytes) override;
    void release(void* data, size_t bytes) noexcept override;
    void upload(const float* host, const TensorView& dst) override;
    void download(const TensorView& src, float* host) override;
    void copy(const TensorView& src, const TensorView& dst) override;

    std::unique_ptr<PreparedLinear> prepare_linear(const LinearWeights& w) override;
    void linear(const PreparedLinear& layer, const TensorView& x, const TensorView& y) override;
    // The gated residual add runs in the GEMM's epilogue where the layer is one GEMM.
    void linear_gated(const PreparedLinear& layer, const TensorView& x, const GatedResidual& out) override;
    // Two W4A4 INT4 layers with fused branches: fc1's GEMM quantizes its
    // tiles for fc2 (QuantizeStage), fc2 runs only its GEMM.
    void mlp(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
             const TensorView& y) override;
    void mlp_gated(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
                   const GatedResidual& out) override;
    void linear_qk_norm_rope(const PreparedLinear& layer, const TensorView& x, const TensorView& y, const QkNormRope& n) override;

    void attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                   AttentionPrecision precision, const TensorView& out) override;
    void biased_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                          const AttentionBias& bias, const TensorView& out) override;
    void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, float eps,
                    const TensorView& out) override;
    void activate(const TensorView& x, Activation activation) override;
    void multiply(const TensorView& x, const TensorView& other) override;
    void layer_norm_modulate(const TensorView& x, const TensorView& scale, const TensorView& shift, float eps,
                             const TensorView& out) override;
    void rms_norm_heads(const TensorView& x, const TensorView& weight, float eps) override;
    void rope(const TensorView& x, const TensorView& cos, const TensorView& sin) override;
    void silu(const TensorView& x) override;
    void group_norm(const TensorView& x, int64_t groups, const TensorView& weight, const TensorView& bias, float eps, bool silu,
                    const TensorView& out) override;
    void conv3x3_patches(const TensorView& image, const ConvGeometry& geometry, int64_t first_out_row,
                         const TensorView& out) override;
    void add(const TensorView& x, const TensorView& update) override;
    void gated_add(const TensorView& x, const TensorView& update, const TensorView& gate) override;

private:
    // The level's fp32 or BF16 kernel over every head and query block.
    void run_attention(const AttentionArgs& args, bool bf16);

    ThreadPool& pool_;
    const CpuKernels* kernels_;
    CpuScratch scratch_;
};

}  // namespace svdq
