#include "models/vae/vae_encoder.h"

#include <algorithm>

#include "backend/context.h"
#include "models/vae/vae_checkpoint.h"

namespace svdq {

VaeEncoder::VaeEncoder(Context& ctx, const VaeCheckpoint& ck)
    : top_channels_(ck.config().block_out_channels.back()),
      conv_in_(ctx, ck, "encoder.conv_in", ck.config().in_channels, ck.config().block_out_channels.front(), 3),
      mid_(ctx, ck, "encoder.mid_block", top_channels_, ck.config().norm_num_groups, ck.config().mid_block_add_attention),
      norm_out_(ctx, ck, "encoder.conv_norm_out", top_channels_, ck.config().norm_num_groups),
      conv_out_(ctx, ck, "encoder.conv_out", top_channels_, 2 * ck.config().latent_channels, 3) {
    const VaeConfig& c = ck.config();
    const std::vector<int64_t>& channels = c.block_out_channels;
    for (size_t i = 0; i < channels.size(); ++i)
        down_.emplace_back(ctx, ck, "encoder.down_blocks." + std::to_string(i), i == 0 ? channels[0] : channels[i - 1], channels[i],
                           c.layers_per_block, c.norm_num_groups,
                           i + 1 < channels.size() ? ResolutionBlock::Resample::down : ResolutionBlock::Resample::none);
    if (c.use_quant_conv) quant_conv_.emplace(ctx, ck, "quant_conv", 2 * c.latent_channels, 2 * c.latent_channels, 1);
}

void VaeEncoder::forward(Context& ctx, const TensorView& image, ImageSize size, const TensorView& moments) const {
    const Arena::Scope scope(ctx.arena());
    int64_t largest = size.pixels() * down_.front().in_channels();
    ImageSize latent = size;
    for (const ResolutionBlock& b : down_) {
        largest = std::max(largest, b.largest_activation(latent));
        latent = b.output_size(latent);
    }
    PingPong buffers(ctx.arena(), largest);
    conv_in_.forward(ctx, image, same_size(size), buffers.current(size, down_.front().in_channels()));
    for (const ResolutionBlock& b : down_) {
        b.forward(ctx, buffers, size);
        size = b.output_size(size);
    }
    const TensorView x = buffers.current(latent, top_channels_);
    mid_.forward(ctx, x, buffers.other(latent, top_channels_), latent);
    norm_out_.forward(ctx, x, true, x);
    if (!quant_conv_) {
        conv_out_.forward(ctx, x, same_size(latent), moments);
        return;
    }
    const TensorView h = ctx.arena().matrix(moments.rows, moments.cols);
    conv_out_.forward(ctx, x, same_size(latent), h);
    quant_conv_->forward(ctx, h, same_size(latent), moments);
}

}  // namespace svdq
