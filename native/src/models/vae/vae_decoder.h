// diffusers' Decoder of AutoencoderKL (with post_quant_conv before it when the
// config uses one): conv_in, the mid block, UpDecoderBlock2Ds in reversed
// channel order (layers_per_block + 1 resnets each, a nearest 2x upsample
// and a 3x3 convolution after every block but the last), GroupNorm + SiLU,
// conv_out.
#pragma once

#include <optional>
#include <vector>

#include "models/vae/vae_layers.h"

namespace svdq {

class VaeCheckpoint;

class VaeDecoder {
public:
    VaeDecoder(Context& ctx, const VaeCheckpoint& ck);

    // z [h * w, latent_channels] -> image [(s h) * (s w), out_channels] with
    // s = 2^(blocks - 1). Activations live in the context's arena: two
    // buffers of the largest activation (PingPong), a resnet's two
    // temporaries and a convolution's patch band.
    void forward(Context& ctx, const TensorView& z, ImageSize latent, const TensorView& image) const;

private:
    int64_t top_channels_;
    std::optional<Conv2d> post_quant_conv_;
    Conv2d conv_in_;
    MidBlock mid_;
    std::vector<ResolutionBlock> up_;
    GroupNorm norm_out_;
    Conv2d conv_out_;
};

}  // namespace svdq
