#include "models/vae/autoencoder_kl.h"

#include <algorithm>

#include "backend/context.h"
#include "core/error.h"
#include "core/tensor.h"

namespace svdq {

namespace {

// diffusers' tile_overlap_factor 0.25 with sides that are multiples of 4:
// tiles start every 3/4 tile and blend over 1/4 of it.
TileGrid grid(int64_t input_tile, int64_t output_tile) {
    return {input_tile, input_tile / 4 * 3, output_tile / 4, output_tile / 4 * 3};
}

// [pixels, channels] rows (NHWC) of a host image, in `staging`.
float* to_pixel_rows(const HostImage& image, float* staging) {
    const int64_t pixels = image.size.pixels();
    for (int64_t c = 0; c < image.channels; ++c)
        for (int64_t p = 0; p < pixels; ++p) staging[p * image.channels + c] = image.values[static_cast<size_t>(c * pixels + p)];
    return staging;
}

HostImage from_pixel_rows(Context& ctx, const TensorView& rows, ImageSize size) {
    std::vector<float> host(static_cast<size_t>(rows.numel()));
    ctx.backend().download(rows, host.data());
    HostImage image(rows.cols, size);
    for (int64_t p = 0; p < size.pixels(); ++p)
        for (int64_t c = 0; c < rows.cols; ++c) image.values[static_cast<size_t>(c * size.pixels() + p)] = host[p * rows.cols + c];
    return image;
}

}  // namespace

AutoencoderKL::AutoencoderKL(Context& ctx, const std::string& path)
    : checkpoint_(path), decoder_(ctx, checkpoint_), encoder_(ctx, checkpoint_) {
    checkpoint_.require_all_read();
}

std::vector<int64_t> AutoencoderKL::decoded_shape(const std::vector<int64_t>& latents) const {
    const VaeConfig& c = config();
    require(latents.size() == 4 && latents[0] > 0 && latents[2] > 0 && latents[3] > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "latents have shape " + shape_string(latents) + ", the VAE decodes [batch, " + std::to_string(c.latent_channels) +
                ", height, width]");
    require(latents[1] == c.latent_channels, SVDQ_ERROR_SHAPE_MISMATCH,
            "latents have " + std::to_string(latents[1]) + " channels (shape " + shape_string(latents) + "), the VAE takes " +
                std::to_string(c.latent_channels));
    return {latents[0], c.out_channels, latents[2] * c.downscale(), latents[3] * c.downscale()};
}

std::vector<int64_t> AutoencoderKL::encoded_shape(const std::vector<int64_t>& image) const {
    const VaeConfig& c = config();
    const int64_t s = c.downscale();
    require(image.size() == 4 && image[0] > 0 && image[2] > 0 && image[3] > 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "the image has shape " + shape_string(image) + ", the VAE encodes [batch, " + std::to_string(c.in_channels) +
                ", height, width]");
    require(image[1] == c.in_channels, SVDQ_ERROR_SHAPE_MISMATCH,
            "the image has " + std::to_string(image[1]) + " channels (shape " + shape_string(image) + "), the VAE takes " +
                std::to_string(c.in_channels));
    require(image[2] % s == 0 && image[3] % s == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "the image is " + std::to_string(image[3]) + "x" + std::to_string(image[2]) + " (width x height); both sides must be multiples of " +
                std::to_string(s));
    return {image[0], c.latent_channels, image[2] / s, image[3] / s};
}

int64_t AutoencoderKL::tile_sample_size(const VaeTiling& tiling) const {
    const int64_t multiple = 4 * config().downscale();
    if (tiling.tile_sample_size == 0)
        return std::max(multiple, std::min(config().sample_size, kMaxDefaultTile) / multiple * multiple);
    require(tiling.tile_sample_size > 0 && tiling.tile_sample_size % multiple == 0, SVDQ_ERROR_INVALID_ARGUMENT,
            "tile_sample_size " + std::to_string(tiling.tile_sample_size) + " must be a positive multiple of " +
                std::to_string(multiple) + " (4 x the VAE's downscale)");
    return tiling.tile_sample_size;
}

HostImage AutoencoderKL::decode_tile(Context& ctx, const HostImage& latents) const {
    const Arena::Scope scope(ctx.arena());
    const float* rows = to_pixel_rows(latents, ctx.host_staging(latents.values.size()));
    const TensorView z = ctx.arena().input(rows, latents.size.pixels(), latents.channels);
    const int64_t s = config().downscale();
    const ImageSize size{latents.size.height * s, latents.size.width * s};
    const TensorView image = ctx.arena().matrix(size.pixels(), config().out_channels);
    decoder_.forward(ctx, z, latents.size, image);
    return from_pixel_rows(ctx, image, size);
}

HostImage AutoencoderKL::encode_tile(Context& ctx, const HostImage& image) const {
    const Arena::Scope scope(ctx.arena());
    const float* rows = to_pixel_rows(image, ctx.host_staging(image.values.size()));
    const TensorView x = ctx.arena().input(rows, image.size.pixels(), image.channels);
    const int64_t s = config().downscale();
    const ImageSize size{image.size.height / s, image.size.width / s};
    const TensorView moments = ctx.arena().matrix(size.pixels(), 2 * config().latent_channels);
    encoder_.forward(ctx, x, image.size, moments);
    return from_pixel_rows(ctx, moments, size);
}

void AutoencoderKL::decode(Context& ctx, const float* latents, const std::vector<int64_t>& shape, float* image,
                           const VaeTiling& tiling) const {
    const std::vector<int64_t> out = decoded_shape(shape);
    const int64_t tile = tile_sample_size(tiling), tile_latent = tile / config().downscale();
    const ImageSize in_size{shape[2], shape[3]}, out_size{out[2], out[3]};
    const int64_t in_count = shape[1] * in_size.pixels(), out_count = out[1] * out_size.pixels();
    for (int64_t b = 0; b < shape[0]; ++b) {
        const float* z = latents + b * in_count;
        float* x = image + b * out_count;
        if (tiling.automatic && (in_size.height > tile_latent || in_size.width > tile_latent)) {
            run_tiled(z, shape[1], in_size, grid(tile_latent, tile), x, out[1], out_size,
                      [&](const HostImage& t) { return decode_tile(ctx, t); });
        } else {
            HostImage whole(shape[1], in_size);
            std::copy(z, z + in_count, whole.values.begin());
            const HostImage decoded = decode_tile(ctx, whole);
            std::copy(decoded.values.begin(), decoded.values.end(), x);
        }
    }
}

void AutoencoderKL::encode(Context& ctx, const float* image, const std::vector<int64_t>& shape, float* mean, float* logvar,
                           const VaeTiling& tiling) const {
    const std::vector<int64_t> out = encoded_shape(shape);
    const int64_t tile = tile_sample_size(tiling), tile_latent = tile / config().downscale();
    const ImageSize in_size{shape[2], shape[3]}, out_size{out[2], out[3]};
    const int64_t in_count = shape[1] * in_size.pixels(), latent_count = out[1] * out_size.pixels();
    HostImage moments(2 * out[1], out_size);
    for (int64_t b = 0; b < shape[0]; ++b) {
        const float* x = image + b * in_count;
        if (tiling.automatic && (in_size.height > tile || in_size.width > tile)) {
            run_tiled(x, shape[1], in_size, grid(tile, tile_latent), moments.values.data(), moments.channels, out_size,
                      [&](const HostImage& t) { return encode_tile(ctx, t); });
        } else {
            HostImage whole(shape[1], in_size);
            std::copy(x, x + in_count, whole.values.begin());
            moments = encode_tile(ctx, whole);
        }
        // DiagonalGaussianDistribution: mean, logvar = moments.chunk(2, dim=1); logvar clamped.
        std::copy(moments.values.begin(), moments.values.begin() + latent_count, mean + b * latent_count);
        std::transform(moments.values.begin() + latent_count, moments.values.end(), logvar + b * latent_count,
                       [](float v) { return std::clamp(v, kLogvarMin, kLogvarMax); });
    }
}

}  // namespace svdq
