// The backend interface: everything above it (nn/, models/) computes through
// these calls on TensorViews and never touches a backend's memory or knows
// which backend runs. A backend owns its buffers, prepares each linear layer
// into its own packed form once, and runs the ops the models need. Ops write
// into outputs the caller provides; none allocates per call in steady state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/linear_weights.h"
#include "core/low_rank_update.h"
#include "core/tensor_view.h"
#include "svdquant.h"

namespace svdq {

// Where a 3x3 convolution reads an image stored as a [height * width,
// channels] view (one row per pixel in raster order: NHWC). The image is
// first repeated `upsample` times along both axes (nearest neighbour), then
// read at output pixel (oy, ox), tap (ky, kx) at row oy * stride + ky -
// pad_top and column ox * stride + kx - pad_left; reads outside it are 0.
struct ConvGeometry {
    int64_t height = 0, width = 0;  // the stored image
    int64_t upsample = 1;
    int64_t stride = 1;
    int64_t pad_top = 1, pad_left = 1;
    int64_t out_height = 0, out_width = 0;
};

// What attention may round (svdq_attention_precision's resolved values, so
// the plugin door passes them as they are): with bf16, q, k, v and the
// softmax probabilities may be rounded to BF16 for BF16 dot products, the
// softmax and every sum staying fp32. A backend without BF16 dot products
// computes in fp32.
enum class AttentionPrecision : int32_t { fp32 = SVDQ_ATTENTION_FP32, bf16 = SVDQ_ATTENTION_BF16 };

// What biased_attention adds to the scores scale * q k^T before the softmax.
// A view with data == NULL is absent.
struct AttentionBias {
    float scale = 1.0f;
    TensorView bias;      // [heads * q rows, k rows]: head h's [q rows, k rows] block at row h * q rows
    TensorView key_bias;  // [1, k rows]: added to every query's scores (a padding mask)
    bool causal = false;  // query i sees keys 0..i only
};

// Element-wise activations applied in place (GELU tanh also rides on a
// linear's epilogue).
enum class Activation : uint8_t {
    gelu_erf,    // x Phi(x), the exact GELU
    gelu_tanh,   // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    quick_gelu,  // x sigmoid(1.702 x)
};

// Where Backend::linear_gated and mlp_gated put a layer's output y:
// residual += gate * (y + addend), gate [1, n] shared by the rows, addend
// [m, n] or absent (data == NULL), all contiguous. scratch [m, n]: where a
// backend that composes ops (the default) writes y; one that fuses the
// update into its GEMM's store may use it for partial sums or not at all.
struct GatedResidual {
    TensorView residual, gate, addend, scratch;
};

// The q/k RMS norm and RoPE Backend::linear_qk_norm_rope applies to a QKV
// projection's output.
struct QkNormRope {
    TensorView q_weight, k_weight;  // [1, head_dim]
    float eps = 0.0f;
    TensorView cos, sin;  // [m, head_dim]: y's row i rotated by row i
};

// A linear layer in one backend's packed form (Backend::prepare_linear).
class PreparedLinear {
public:
    virtual ~PreparedLinear() = default;
    virtual uint64_t memory_bytes() const = 0;
    // Replaces the layer's extra low-rank terms as a whole: y += scale_i *
    // (x down_i^T) up_i^T, before the activation (Linear::set_low_rank_updates
    // has checked them; none has scale 0). Empty: the layer as prepared, bit
    // for bit. Changes nothing when it throws.
    virtual void set_low_rank_updates(const std::vector<LowRankUpdate>& updates) = 0;
};

class Backend {
public:
    virtual ~Backend() = default;

    virtual svdq_backend kind() const = 0;
    // The kernel level of a CPU backend (SVDQ_CPU_AUTO for other backends).
    virtual svdq_cpu_level cpu_level() const = 0;
    virtual std::string description() const = 0;  // one line for the log
    // Whether ops also accept Memory::host views (a CPU backend: no copies).
    virtual bool reads_host_memory() const = 0;

    // Raw buffers for the arena and persistent tensors; 64-byte aligned.
    virtual void* allocate(size_t bytes) = 0;
    virtual void release(void* data, size_t bytes) noexcept = 0;
    // host holds dst.rows * dst.cols contiguous floats (and receives them).
    virtual void upload(const float* host, const TensorView& dst) = 0;
    virtual void download(const TensorView& src, float* host) = 0;
    virtual void copy(const TensorView& src, const TensorView& dst) = 0;

    virtual std::unique_ptr<PreparedLinear> prepare_linear(const LinearWeights& w) = 0;
    // y [m, n] = the layer applied to x [m, k] (its bias and activation included);
    // x and y contiguous. Non-finite x is refused (SVDQ_ERROR_NON_FINITE).
    virtual void linear(const PreparedLinear& layer, const TensorView& x, const TensorView& y) = 0;
    // y = second(first(x)), first's output in hidden [m, first's n]. A backend
    // may hand first's output to second already quantized (CUDA: the W4A4 MLP,
    // as Nunchaku fuses it); the default runs the two layers.
    virtual void mlp(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
                     const TensorView& y) {
        linear(first, x, hidden);
        linear(second, hidden, y);
    }
    // y = layer(x) = [q | k | v] (three equal widths), then every head of q
    // and k RMS-normalised with its weight (rms_norm_heads) and rotated
    // (rope). The default runs those ops; the CPU backend runs them on each
    // GEMM tile of whole heads while it is in cache, with the same bits.
    virtual void linear_qk_norm_rope(const PreparedLinear& layer, const TensorView& x, const TensorView& y, const QkNormRope& n) {
        linear(layer, x, y);
        const int64_t d = y.cols / 3;
        for (int64_t part = 0; part < 2; ++part) {
            const TensorView heads = y.column_range(part * d, d);
            rms_norm_heads(heads, part == 0 ? n.q_weight : n.k_weight, n.eps);
            rope(heads, n.cos, n.sin);
        }
    }
    // The layer's (or the pair's) output added, gated, into a residual
    // (GatedResidual). The defaults compose linear (mlp), add and gated_add;
    // a backend may fuse the add into its GEMM's store (the CPU backend does,
    // with the same float operations, so the same bits).
    virtual void linear_gated(const PreparedLinear& layer, const TensorView& x, const GatedResidual& out) {
        linear(layer, x, out.scratch);
        add_gated(out);
    }
    virtual void mlp_gated(const PreparedLinear& first, const PreparedLinear& second, const TensorView& x, const TensorView& hidden,
                           const GatedResidual& out) {
        mlp(first, second, x, hidden, out.scratch);
        add_gated(out);
    }

    // softmax(q k^T / sqrt(head_dim)) v per head; q, k, v, out: [tokens, heads * head_dim].
    virtual void attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                           AttentionPrecision precision, const TensorView& out) = 0;
    // The text encoders' attention: softmax(scale q k^T + bias + key_bias), causal
    // or not, times v per head; q, out: [q rows, heads * head_dim], k, v:
    // [k rows, heads * head_dim], all contiguous.
    virtual void biased_attention(const TensorView& q, const TensorView& k, const TensorView& v, int64_t head_dim,
                                  const AttentionBias& bias, const TensorView& out) = 0;
    // out = LayerNorm(x) * weight + bias per row; weight and bias are [1, d].
    virtual void layer_norm(const TensorView& x, const TensorView& weight, const TensorView& bias, float eps,
                            const TensorView& out) = 0;
    virtual void activate(const TensorView& x, Activation activation) = 0;  // in place
    // x *= other, element-wise.
    virtual void multiply(const TensorView& x, const TensorView& other) = 0;
    // out = LayerNorm(x) * (1 + scale) + shift per row, no affine weights;
    // scale and shift are [1, d].
    virtual void layer_norm_modulate(const TensorView& x, const TensorView& scale, const TensorView& shift, float eps,
                                     const TensorView& out) = 0;
    // In place: every head_dim slice of every row RMS-normalised, times weight [1, head_dim].
    virtual void rms_norm_heads(const TensorView& x, const TensorView& weight, float eps) = 0;
    // In place: interleaved pairs (x[2i], x[2i+1]) of each head rotated by the
    // angles of cos and sin [rows, head_dim] (each pair's value repeated).
    virtual void rope(const TensorView& x, const TensorView& cos, const TensorView& sin) = 0;
    virtual void silu(const TensorView& x) = 0;  // in place
    // GroupNorm over an image's [pixels, channels] view: the channels split
    // into `groups` consecutive runs, each normalised over all its pixels and
    // channels (mean, biased variance), then * weight + bias per channel
    // ([1, channels]), then SiLU when `silu`. out may be x.
    virtual void group_norm(const TensorView& x, int64_t groups, const TensorView& weight, const TensorView& bias, float eps,
                            bool silu, const TensorView& out) = 0;
    // The im2col rows of a 3x3 convolution for output rows [first_out_row,
    // first_out_row + out.rows / out_width): out [pixels, 9 * channels], one
    // row per output pixel, column (ky * 3 + kx) * channels + c, so a GEMM
    // with the weight [out_channels, 9 * channels] gives the convolution.
    virtual void conv3x3_patches(const TensorView& image, const ConvGeometry& geometry, int64_t first_out_row,
                                 const TensorView& out) = 0;
    // x += update, or x += gate * update with gate [1, d] shared by the rows.
    virtual void add(const TensorView& x, const TensorView& update) = 0;
    virtual void gated_add(const TensorView& x, const TensorView& update, const TensorView& gate) = 0;

protected:
    // The rest of the default linear_gated once y is in out.scratch.
    void add_gated(const GatedResidual& out) {
        if (out.addend.data != nullptr) add(out.scratch, out.addend);
        gated_add(out.residual, out.scratch, out.gate);
    }
};

}  // namespace svdq
