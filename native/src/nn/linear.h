// A linear layer Y = X W^T + bias in one of the engine's precisions:
// float, W4A16, or W4A4 with optional smoothing and low-rank branch.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "quant/nvfp4.h"
#include "svdquant.h"

namespace svdq {

class Context;
class ThreadPool;
class Tensor;

// NVFP4 weights as Nunchaku stores them: value = e2m1(code) * e4m3(group
// scale) * channel_scales[row] * tensor_scale.
struct Nvfp4Weights {
    Nvfp4Matrix values;                 // [n, k] E2M1 codes and E4M3 scales per 16
    std::vector<float> channel_scales;  // [n] (`wcscales`); empty: all 1
    float tensor_scale = 1.0f;          // `wtscale`
};

// The layer's parameters as float, already validated; smooth and the
// low-rank factors may be empty.
struct LinearWeights {
    svdq_linear_kind kind = SVDQ_LINEAR_FLOAT;
    svdq_activation activation = SVDQ_ACTIVATION_NONE;
    svdq_branch_execution branch_execution = SVDQ_BRANCH_FUSED;
    svdq_weight_format format = SVDQ_FORMAT_INT4;
    int64_t n = 0, k = 0, rank = 0;
    std::vector<float> weight;  // [n, k]
    std::vector<float> bias;    // [n]
    std::vector<float> smooth;  // [k]
    std::vector<float> up;      // [n, rank]
    std::vector<float> down;    // [rank, k], a factor of weight * smooth
    // From a file: the 4-bit values exactly as stored, used instead of
    // quantizing again (weight is then unused). W4A4: the residual weight *
    // smooth - up down, INT4 in quantized_residual or NVFP4 in
    // nvfp4_residual, with a down factor that already reads the raw input
    // (divided by smooth). INT4 W4A16: the weight in quantized_residual and,
    // when quantized_zeros [n, k/64] is not empty, AWQ's zero points: a value
    // is then (q + 8) * scale + zero (q + 8 = AWQ's unsigned nibble), else q * scale.
    std::optional<Int4Matrix> quantized_residual;
    std::vector<float> quantized_zeros;
    std::optional<Nvfp4Weights> nvfp4_residual;
    bool down_reads_input = false;
    // INT4 W4A4 only: how the quantizer reads X (ActEncoding). Nunchaku's INT4
    // mlp_fc2 layers use input_shift = nunchaku::kGeluShift, unsigned_input:
    // Y = Qu((X + shift) / smooth) R + up down' X + bias, the branch reading
    // the raw X and the file's bias already compensating the shift. The
    // defaults give the plain signed Q(X / smooth).
    float input_shift = 0.0f;
    bool unsigned_input = false;
};

// weight * smooth - up down [n, k]: what a W4A4 layer quantizes.
std::vector<float> smoothed_residual(const LinearWeights& w, ThreadPool& pool);

// down [rank, k] as the layer applies it to the raw input: times 1 / smooth
// (as is when there is no smooth or w.down_reads_input).
std::vector<float> down_reading_input(const LinearWeights& w);

// A layer is packed for the kernels of the context that creates it and always
// runs with those kernels, whichever context calls forward. NVFP4 layers keep
// their 4-bit values dequantized to float and quantize activations to NVFP4
// and back on the fly: an emulation with the same numbers as FP4 hardware
// (see gemm_nvfp4_reference), running on the float GEMM with an unfused branch.
class Linear {
public:
    Linear(Context& ctx, LinearWeights w);

    svdq_linear_kind kind() const { return kind_; }
    svdq_activation activation() const { return activation_; }
    svdq_branch_execution branch_execution() const { return branch_execution_; }
    svdq_weight_format format() const { return format_; }
    int64_t in_features() const { return k_; }
    int64_t out_features() const { return n_; }
    int64_t rank() const { return rank_; }
    bool has_bias() const { return !bias_.empty(); }
    bool has_smooth() const { return !inv_smooth_.empty(); }
    uint64_t weight_bytes() const;

    // x: [m, k], y: [m, n], both row-major float.
    void forward(Context& ctx, const float* x, int64_t m, float* y) const;

private:
    void forward_w4a4(Context& ctx, const float* x, int64_t m, float* y) const;
    void forward_w4a4_unfused(Context& ctx, const float* x, int64_t m, float* y) const;
    void forward_nvfp4(Context& ctx, const float* x, int64_t m, float* y) const;
    // y = activation(y + (X down'^T) up^T) with the branch as float GEMMs.
    void add_branch_unfused(Context& ctx, const float* x, int64_t m, float* y) const;

    svdq_linear_kind kind_;
    svdq_activation activation_;
    svdq_branch_execution branch_execution_;
    svdq_weight_format format_;
    ActEncoding input_encoding_;
    int64_t n_, k_, rank_;
    const CpuKernels* kernels_;
    PackedWeights weights_;          // float (BF16 when bf16_weights_), INT4, or the INT4 residual for W4A4
    bool bf16_weights_ = false;
    std::vector<float> bias_;
    std::vector<float> inv_smooth_;  // 1 / lambda, applied to activations
    // The branch. Fused: up_ packed for the W4A4 epilogue, down_ plain for the
    // activation quantizer, both BF16 as checkpoints store them. Unfused and
    // NVFP4: both packed as BF16 GEMM weights.
    PackedWeights up_;               // [n, rank]
    std::vector<uint16_t> down_;     // BF16 [rank, k] divided by lambda: reads raw X
    PackedWeights down_packed_;      // unfused and NVFP4 only
};

// Validates a C descriptor completely and converts it to LinearWeights.
LinearWeights linear_weights_from_desc(const svdq_linear_desc& desc);

}  // namespace svdq

struct svdq_linear : svdq::Linear {
    using svdq::Linear::Linear;
};
