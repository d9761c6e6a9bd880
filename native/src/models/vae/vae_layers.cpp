#include "models/vae/vae_layers.h"

#include <algorithm>

#include "backend/context.h"
#include "core/error.h"
#include "models/vae/vae_checkpoint.h"

namespace svdq {

namespace {

constexpr float kEps = 1e-6f;  // every GroupNorm of AutoencoderKL
// Output rows per im2col band: the patch buffer is 9 * kBandRows input rows'
// worth of values, small next to the activations it sits beside.
constexpr int64_t kBandRows = 8;

LinearWeights conv_weights(const VaeCheckpoint& ck, const std::string& name, int64_t in, int64_t out, int64_t kernel) {
    const std::vector<float> w = ck.read(name + ".weight", {out, in, kernel, kernel});
    LinearWeights lw;
    lw.n = out;
    lw.k = in * kernel * kernel;
    lw.weight.resize(static_cast<size_t>(lw.n * lw.k));
    // [out, in, ky, kx] -> [out, (ky * kernel + kx) * in + c], the order of conv3x3_patches' columns.
    for (int64_t o = 0; o < out; ++o)
        for (int64_t c = 0; c < in; ++c)
            for (int64_t t = 0; t < kernel * kernel; ++t) lw.weight[o * lw.k + t * in + c] = w[(o * in + c) * kernel * kernel + t];
    lw.bias = ck.read(name + ".bias", {out});
    return lw;
}

Buffer uploaded(Context& ctx, const std::vector<float>& values) {
    Buffer b(ctx.backend(), 1, static_cast<int64_t>(values.size()));
    ctx.backend().upload(values.data(), b.view());
    return b;
}

}  // namespace

Conv2d::Conv2d(Context& ctx, const VaeCheckpoint& ck, const std::string& name, int64_t in_channels, int64_t out_channels,
               int64_t kernel)
    : in_channels_(in_channels), kernel_(kernel), linear_(ctx, conv_weights(ck, name, in_channels, out_channels, kernel)) {}

void Conv2d::forward(Context& ctx, const TensorView& x, const ConvGeometry& g, const TensorView& y) const {
    if (kernel_ == 1) {
        linear_.forward(ctx, x, y);
        return;
    }
    const Arena::Scope scope(ctx.arena());
    const int64_t band = std::min(kBandRows, g.out_height);
    const TensorView patches = ctx.arena().matrix(band * g.out_width, 9 * in_channels_);
    for (int64_t row = 0; row < g.out_height; row += band) {
        const int64_t rows = std::min(band, g.out_height - row);
        const TensorView p = patches.row_range(0, rows * g.out_width);
        ctx.backend().conv3x3_patches(x, g, row, p);
        linear_.forward(ctx, p, y.row_range(row * g.out_width, rows * g.out_width));
    }
}

ConvGeometry same_size(ImageSize s) { return {s.height, s.width, 1, 1, 1, 1, s.height, s.width}; }

ConvGeometry upsampled_twice(ImageSize s) { return {s.height, s.width, 2, 1, 1, 1, 2 * s.height, 2 * s.width}; }

ConvGeometry downsampled_twice(ImageSize s) {
    require(s.height >= 2 && s.width >= 2, SVDQ_ERROR_SHAPE_MISMATCH,
            "a " + std::to_string(s.height) + "x" + std::to_string(s.width) + " image is too small to downsample");
    // F.pad(x, (0, 1, 0, 1)) then a 3x3 convolution with stride 2: out = (side + 1 - 3) / 2 + 1.
    return {s.height, s.width, 1, 2, 0, 0, (s.height - 2) / 2 + 1, (s.width - 2) / 2 + 1};
}

ImageSize output_size(const ConvGeometry& g) { return {g.out_height, g.out_width}; }

GroupNorm::GroupNorm(Context& ctx, const VaeCheckpoint& ck, const std::string& name, int64_t channels, int64_t groups)
    : groups_(groups),
      weight_(uploaded(ctx, ck.read(name + ".weight", {channels}))),
      bias_(uploaded(ctx, ck.read(name + ".bias", {channels}))) {}

void GroupNorm::forward(Context& ctx, const TensorView& x, bool silu, const TensorView& out) const {
    ctx.backend().group_norm(x, groups_, weight_.view(), bias_.view(), kEps, silu, out);
}

ResnetBlock::ResnetBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t in_channels,
                         int64_t out_channels, int64_t groups)
    : norm1_(ctx, ck, prefix + ".norm1", in_channels, groups),
      norm2_(ctx, ck, prefix + ".norm2", out_channels, groups),
      conv1_(ctx, ck, prefix + ".conv1", in_channels, out_channels, 3),
      conv2_(ctx, ck, prefix + ".conv2", out_channels, out_channels, 3) {
    if (in_channels != out_channels) shortcut_.emplace(ctx, ck, prefix + ".conv_shortcut", in_channels, out_channels, 1);
}

void ResnetBlock::forward(Context& ctx, const TensorView& x, ImageSize size, const TensorView& out) const {
    Backend& backend = ctx.backend();
    if (shortcut_)
        shortcut_->forward(ctx, x, same_size(size), out);
    else
        backend.copy(x, out);
    norm1_.forward(ctx, x, true, x);
    const Arena::Scope scope(ctx.arena());
    const TensorView h = ctx.arena().matrix(size.pixels(), conv1_.out_channels());
    conv1_.forward(ctx, x, same_size(size), h);
    norm2_.forward(ctx, h, true, h);
    const TensorView h2 = ctx.arena().matrix(size.pixels(), conv2_.out_channels());
    conv2_.forward(ctx, h, same_size(size), h2);
    backend.add(out, h2);
}

Linear vae_linear(Context& ctx, const VaeCheckpoint& ck, const std::string& name, int64_t in, int64_t out) {
    LinearWeights w;
    w.n = out;
    w.k = in;
    w.weight = ck.read(name + ".weight", {out, in});
    w.bias = ck.read(name + ".bias", {out});
    return Linear(ctx, w);
}

AttentionBlock::AttentionBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t channels, int64_t groups)
    : channels_(channels),
      norm_(ctx, ck, prefix + ".group_norm", channels, groups),
      to_q_(vae_linear(ctx, ck, prefix + ".to_q", channels, channels)),
      to_k_(vae_linear(ctx, ck, prefix + ".to_k", channels, channels)),
      to_v_(vae_linear(ctx, ck, prefix + ".to_v", channels, channels)),
      to_out_(vae_linear(ctx, ck, prefix + ".to_out.0", channels, channels)) {}

void AttentionBlock::forward(Context& ctx, const TensorView& x) const {
    const Arena::Scope scope(ctx.arena());
    Arena& arena = ctx.arena();
    const int64_t tokens = x.rows;
    const TensorView normed = arena.matrix(tokens, channels_);
    norm_.forward(ctx, x, false, normed);
    const TensorView q = arena.matrix(tokens, channels_), k = arena.matrix(tokens, channels_),
                     v = arena.matrix(tokens, channels_), attended = arena.matrix(tokens, channels_);
    to_q_.forward(ctx, normed, q);
    to_k_.forward(ctx, normed, k);
    to_v_.forward(ctx, normed, v);
    ctx.backend().attention(q, k, v, channels_, AttentionPrecision::fp32, attended);
    to_out_.forward(ctx, attended, normed);
    ctx.backend().add(x, normed);
}

MidBlock::MidBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t channels, int64_t groups,
                   bool attention)
    : first_(ctx, ck, prefix + ".resnets.0", channels, channels, groups),
      second_(ctx, ck, prefix + ".resnets.1", channels, channels, groups) {
    if (attention) attention_.emplace(ctx, ck, prefix + ".attentions.0", channels, groups);
}

void MidBlock::forward(Context& ctx, const TensorView& x, const TensorView& spare, ImageSize size) const {
    first_.forward(ctx, x, size, spare);
    if (attention_) attention_->forward(ctx, spare);
    second_.forward(ctx, spare, size, x);
}

ResolutionBlock::ResolutionBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t in_channels,
                                 int64_t out_channels, int64_t resnets, int64_t groups, Resample resample)
    : in_channels_(in_channels), out_channels_(out_channels), resample_(resample) {
    for (int64_t r = 0; r < resnets; ++r)
        resnets_.emplace_back(ctx, ck, prefix + ".resnets." + std::to_string(r), r == 0 ? in_channels : out_channels, out_channels,
                              groups);
    if (resample == Resample::down) sampler_.emplace(ctx, ck, prefix + ".downsamplers.0.conv", out_channels, out_channels, 3);
    if (resample == Resample::up) sampler_.emplace(ctx, ck, prefix + ".upsamplers.0.conv", out_channels, out_channels, 3);
}

ConvGeometry ResolutionBlock::geometry(ImageSize size) const {
    return resample_ == Resample::down ? downsampled_twice(size) : resample_ == Resample::up ? upsampled_twice(size) : same_size(size);
}

ImageSize ResolutionBlock::output_size(ImageSize size) const { return svdq::output_size(geometry(size)); }

int64_t ResolutionBlock::largest_activation(ImageSize size) const {
    return std::max(size.pixels() * std::max(in_channels_, out_channels_), output_size(size).pixels() * out_channels_);
}

void ResolutionBlock::forward(Context& ctx, PingPong& buffers, ImageSize size) const {
    int64_t channels = in_channels_;
    for (const ResnetBlock& resnet : resnets_) {
        resnet.forward(ctx, buffers.current(size, channels), size, buffers.other(size, out_channels_));
        buffers.swap();
        channels = out_channels_;
    }
    if (!sampler_) return;
    const ConvGeometry g = geometry(size);
    sampler_->forward(ctx, buffers.current(size, out_channels_), g, buffers.other(svdq::output_size(g), out_channels_));
    buffers.swap();
}

}  // namespace svdq
