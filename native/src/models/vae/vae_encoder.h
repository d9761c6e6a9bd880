// diffusers' Encoder of AutoencoderKL (with quant_conv after it when the
// config uses one): conv_in, DownEncoderBlock2Ds (layers_per_block resnets,
// a pad (0, 1, 0, 1) + stride-2 3x3 convolution after every block but the
// last), the mid block, GroupNorm + SiLU, conv_out to 2 * latent channels
// (the moments: mean, then logvar).
#pragma once

#include <optional>
#include <vector>

#include "models/vae/vae_layers.h"

namespace svdq {

class VaeCheckpoint;

class VaeEncoder {
public:
    VaeEncoder(Context& ctx, const VaeCheckpoint& ck);

    // image [H * W, in_channels] -> moments [(H / s) * (W / s), 2 * latent_channels];
    // memory as VaeDecoder's.
    void forward(Context& ctx, const TensorView& image, ImageSize size, const TensorView& moments) const;

private:
    int64_t top_channels_;
    Conv2d conv_in_;
    std::vector<ResolutionBlock> down_;
    MidBlock mid_;
    GroupNorm norm_out_;
    Conv2d conv_out_;
    std::optional<Conv2d> quant_conv_;
};

}  // namespace svdq
