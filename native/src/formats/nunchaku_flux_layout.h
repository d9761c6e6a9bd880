// How Nunchaku lays FLUX.1 out in its checkpoints: layer names in both key
// styles and the facts a loader must honour, from deepcompressor's converter
// (deepcompressor/backend/nunchaku/convert.py, utils.py) and Nunchaku's
// loaders (src/FluxModel.cpp, nunchaku/models/transformers/transformer_flux_v2.py).
//
// - N and K of every 4-bit layer are padded to multiples of 128 (weights and
//   low-rank factors with 0; scales, bias, smooth with 1), the rank to 16.
// - lora_down reads the layer input as it arrives: the converter divided it
//   by smooth, so the branch needs no smoothing of its own.
// - out_proj and out_proj_context (double blocks) and out_proj (single
//   blocks) have their smoothing folded into V: their `smooth` is all ones
//   and the real factor is kept in `smooth_orig`.
// - A single block's proj_out [dim, dim + 4 dim] is split into out_proj (the
//   attention columns, bias zero) and mlp_fc2 (the MLP columns, real bias).
// - INT4 only: the inputs of mlp_fc2 and mlp_context_fc2 are the GELU output
//   shifted by kGeluShift, divided by smooth and quantized UNSIGNED (0..15,
//   scale absmax / 15), while the branch reads the unshifted GELU output; the
//   stored bias already compensates the shift. NVFP4 files do not shift.
// - The adaLN modulation linears are AWQ W4A16 (models/nunchaku_w4a16_linear.h)
//   with interleaved output rows and +1 folded into the scale chunks' bias.
// - q/k RMSNorm weights are norm_q, norm_k, norm_added_q, norm_added_k;
//   embedders, norm_out and proj_out keep their diffusers names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace svdq::nunchaku {

// The shift Nunchaku adds to GELU outputs before quantizing them unsigned
// (src/kernels/zgemm/gemm_w4a4_launch_impl.cuh, SHIFT_GELU).
constexpr float kGeluShift = 0.171875f;

enum class Keys { V0, Diffusers };  // mirrors svdq_checkpoint_keys (V0 = 1, Diffusers = 2)

enum class LayerKind {
    W4A4,         // SVDQuant layer (models/nunchaku_linear.h)
    W4A4Unsigned, // W4A4 whose INT4 input is the shifted GELU output
    W4A4Fused,    // W4A4 whose smoothing is folded into V (smooth = 1, smooth_orig real)
    AdaNorm6,     // AWQ W4A16 AdaLayerNormZero linear: 6 interleaved chunks
    AdaNorm3,     // AWQ W4A16 AdaLayerNormZeroSingle linear: 3 interleaved chunks
};

struct LayerName {
    const char* v0;
    const char* diffusers;
    LayerKind kind;

    const char* in(Keys keys) const { return keys == Keys::V0 ? v0 : diffusers; }
};

// The quantized layers of one block, relative to "transformer_blocks.<i>."
// or "single_transformer_blocks.<i>.".
const std::vector<LayerName>& double_block_layers();
const std::vector<LayerName>& single_block_layers();

// The entry of double_block_layers() or single_block_layers() whose v0 name is `v0`.
const LayerName& layer_named(bool single_block, const char* v0);

// The suffixes of a W4A4 layer's tensors in each key style.
struct W4A4TensorNames {
    const char* smooth;
    const char* smooth_orig;
    const char* lora_down;
    const char* lora_up;
};
W4A4TensorNames w4a4_tensor_names(Keys keys);

}  // namespace svdq::nunchaku
