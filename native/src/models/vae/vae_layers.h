// The layers of diffusers' AutoencoderKL on images stored as [height * width,
// channels] views in the context's arena (NHWC: one row per pixel). That
// layout makes a 1x1 convolution and the attention projections plain linear
// layers over the pixel rows, gives the attention op its [tokens, channels]
// input without a transpose, and keeps each GroupNorm group contiguous.
// A 3x3 convolution is im2col (the backend's conv3x3_patches, a band of
// output rows at a time so its buffer stays a few rows of the image) times
// the weight through the engine's float GEMM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "nn/linear.h"

namespace svdq {

class Context;
class VaeCheckpoint;

// An image's size in pixels.
struct ImageSize {
    int64_t height = 0, width = 0;
    int64_t pixels() const { return height * width; }
};

// diffusers' nn.Conv2d with kernel 3 (or 1) and its bias.
class Conv2d {
public:
    Conv2d(Context& ctx, const VaeCheckpoint& ck, const std::string& name, int64_t in_channels, int64_t out_channels,
           int64_t kernel);

    int64_t out_channels() const { return linear_.out_features(); }
    // y = conv(x) with the geometry's stride, padding and nearest upsampling
    // (a 1x1 convolution ignores the geometry: y has x's pixels).
    void forward(Context& ctx, const TensorView& x, const ConvGeometry& geometry, const TensorView& y) const;

private:
    int64_t in_channels_, kernel_;
    Linear linear_;  // weight [out, (ky * 3 + kx) * in + c] for kernel 3
};

// Geometries of the three 3x3 convolutions an AutoencoderKL has.
ConvGeometry same_size(ImageSize s);                // padding 1, stride 1
ConvGeometry upsampled_twice(ImageSize s);          // Upsample2D: nearest 2x, then padding 1
ConvGeometry downsampled_twice(ImageSize s);        // Downsample2D: pad (0, 1, 0, 1), stride 2
ImageSize output_size(const ConvGeometry& g);

// nn.GroupNorm(groups, channels, eps 1e-6, affine), optionally followed by SiLU.
class GroupNorm {
public:
    GroupNorm(Context& ctx, const VaeCheckpoint& ck, const std::string& name, int64_t channels, int64_t groups);
    void forward(Context& ctx, const TensorView& x, bool silu, const TensorView& out) const;

private:
    int64_t groups_;
    Buffer weight_, bias_;
};

// ResnetBlock2D without a time embedding: out = shortcut(x) +
// conv2(silu(norm2(conv1(silu(norm1(x)))))), the shortcut a 1x1 convolution
// when the channel count changes.
class ResnetBlock {
public:
    ResnetBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t in_channels, int64_t out_channels,
                int64_t groups);
    // x [pixels, in] is overwritten (it holds norm1's output afterwards);
    // out [pixels, out_channels].
    void forward(Context& ctx, const TensorView& x, ImageSize size, const TensorView& out) const;

private:
    GroupNorm norm1_, norm2_;
    Conv2d conv1_, conv2_;
    std::optional<Conv2d> shortcut_;  // conv_shortcut, 1x1
};

// The mid block's Attention: x += to_out(softmax(q k^T / sqrt(C)) v) with
// q, k, v = to_q/k/v(group_norm(x)), one head of all C channels over the
// pixels as tokens. In place.
class AttentionBlock {
public:
    AttentionBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t channels, int64_t groups);
    void forward(Context& ctx, const TensorView& x) const;

private:
    int64_t channels_;
    GroupNorm norm_;
    Linear to_q_, to_k_, to_v_, to_out_;
};

// UNetMidBlock2D: resnet, attention (when the config adds it), resnet.
class MidBlock {
public:
    MidBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t channels, int64_t groups, bool attention);
    // x and spare [pixels, channels]: the result is in x, spare is overwritten.
    void forward(Context& ctx, const TensorView& x, const TensorView& spare, ImageSize size) const;

private:
    ResnetBlock first_, second_;
    std::optional<AttentionBlock> attention_;
};

// Two arena buffers of `floats` each for a chain of layers: each reads the
// current one and writes the other, then they swap.
class PingPong {
public:
    PingPong(Arena& arena, int64_t floats) : current_(arena.matrix(1, floats)), other_(arena.matrix(1, floats)) {}
    TensorView current(ImageSize size, int64_t channels) const { return current_.reshaped(size.pixels(), channels); }
    TensorView other(ImageSize size, int64_t channels) const { return other_.reshaped(size.pixels(), channels); }
    void swap() { std::swap(current_, other_); }

private:
    TensorView current_, other_;
};

// DownEncoderBlock2D / UpDecoderBlock2D: resnets at one resolution, then
// (but in the last block) Downsample2D or Upsample2D's 3x3 convolution.
class ResolutionBlock {
public:
    enum class Resample { none, down, up };
    ResolutionBlock(Context& ctx, const VaeCheckpoint& ck, const std::string& prefix, int64_t in_channels, int64_t out_channels,
                    int64_t resnets, int64_t groups, Resample resample);

    int64_t in_channels() const { return in_channels_; }
    int64_t out_channels() const { return out_channels_; }
    ImageSize output_size(ImageSize size) const;
    // The most floats one of its activations holds at input `size`.
    int64_t largest_activation(ImageSize size) const;
    // buffers.current [size, in] -> buffers.current [output_size(size), out].
    void forward(Context& ctx, PingPong& buffers, ImageSize size) const;

private:
    ConvGeometry geometry(ImageSize size) const;

    int64_t in_channels_, out_channels_;
    Resample resample_;
    std::vector<ResnetBlock> resnets_;
    std::optional<Conv2d> sampler_;
};

// A float linear layer read from `name`.weight [out, in] and `name`.bias.
Linear vae_linear(Context& ctx, const VaeCheckpoint& ck, const std::string& name, int64_t in, int64_t out);

}  // namespace svdq
