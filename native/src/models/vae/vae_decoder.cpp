#include "models/vae/vae_decoder.h"

#include <algorithm>

#include "backend/context.h"
#include "models/vae/vae_checkpoint.h"

namespace svdq {

VaeDecoder::VaeDecoder(Context& ctx, const VaeCheckpoint& ck)
    : top_channels_(ck.config().block_out_channels.back()),
      conv_in_(ctx, ck, "decoder.conv_in", ck.config().latent_channels, top_channels_, 3),
      mid_(ctx, ck, "decoder.mid_block", top_channels_, ck.config().norm_num_groups, ck.config().mid_block_add_attention),
      norm_out_(ctx, ck, "decoder.conv_norm_out", ck.config().block_out_channels.front(), ck.config().norm_num_groups),
      conv_out_(ctx, ck, "decoder.conv_out", ck.config().block_out_channels.front(), ck.config().out_channels, 3) {
    const VaeConfig& c = ck.config();
    if (c.use_post_quant_conv) post_quant_conv_.emplace(ctx, ck, "post_quant_conv", c.latent_channels, c.latent_channels, 1);
    const std::vector<int64_t> reversed(c.block_out_channels.rbegin(), c.block_out_channels.rend());
    for (size_t i = 0; i < reversed.size(); ++i)
        up_.emplace_back(ctx, ck, "decoder.up_blocks." + std::to_string(i), i == 0 ? reversed[0] : reversed[i - 1], reversed[i],
                         c.layers_per_block + 1, c.norm_num_groups,
                         i + 1 < reversed.size() ? ResolutionBlock::Resample::up : ResolutionBlock::Resample::none);
}

void VaeDecoder::forward(Context& ctx, const TensorView& z, ImageSize latent, const TensorView& image) const {
    const Arena::Scope scope(ctx.arena());
    int64_t largest = latent.pixels() * top_channels_;
    ImageSize size = latent;
    for (const ResolutionBlock& b : up_) {
        largest = std::max(largest, b.largest_activation(size));
        size = b.output_size(size);
    }
    size = latent;
    PingPong buffers(ctx.arena(), largest);
    TensorView input = z;
    if (post_quant_conv_) {
        input = ctx.arena().matrix(z.rows, z.cols);
        post_quant_conv_->forward(ctx, z, same_size(latent), input);
    }
    conv_in_.forward(ctx, input, same_size(latent), buffers.current(latent, top_channels_));
    mid_.forward(ctx, buffers.current(latent, top_channels_), buffers.other(latent, top_channels_), latent);
    for (const ResolutionBlock& b : up_) {
        b.forward(ctx, buffers, size);
        size = b.output_size(size);
    }
    const TensorView x = buffers.current(size, up_.back().out_channels());
    norm_out_.forward(ctx, x, true, x);
    conv_out_.forward(ctx, x, same_size(size), image);
}

}  // namespace svdq
