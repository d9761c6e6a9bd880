#include "pipelines/flux_vae.h"

#include <string>
#include <utility>

#include "core/error.h"
#include "models/vae/vae_scaling.h"

namespace svdq {

FluxLatentShape flux_vae_latent_shape(const AutoencoderKL& vae, int64_t tokens, int64_t token_features, int64_t latent_height,
                                      int64_t latent_width) {
    const int64_t channels = vae.config().latent_channels;
    require(token_features == 4 * channels, SVDQ_ERROR_SHAPE_MISMATCH,
            "packed latents have " + std::to_string(token_features) + " features per token (" + std::to_string(token_features / 4) +
                " latent channels in 2x2 patches); the VAE has " + std::to_string(channels) + " latent channels, so " +
                std::to_string(4 * channels));
    require(latent_height > 0 && latent_width > 0 && latent_height % 2 == 0 && latent_width % 2 == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "the latent image is " + std::to_string(latent_height) + " x " + std::to_string(latent_width) +
                " (height x width); both sides must be positive and even (2x2 patches)");
    FluxLatentShape shape;
    shape.channels = channels;
    shape.height = latent_height;
    shape.width = latent_width;
    require(tokens == shape.tokens(), SVDQ_ERROR_SHAPE_MISMATCH,
            "packed latents have " + std::to_string(tokens) + " tokens, a " + std::to_string(latent_height) + " x " +
                std::to_string(latent_width) + " latent image has " + std::to_string(shape.tokens()));
    return shape;
}

void decode_flux_latents(Context& ctx, const AutoencoderKL& vae, const std::vector<float>& packed, const FluxLatentShape& shape,
                         float* image, const VaeTiling& tiling) {
    std::vector<float> z = unpack_latents(packed, shape);
    latents_to_vae(vae.config(), z.data(), z.size());
    vae.decode(ctx, z.data(), {1, shape.channels, shape.height, shape.width}, image, tiling);
}

FluxLatentShape flux_vae_image_shape(const AutoencoderKL& vae, int64_t channels, int64_t height, int64_t width) {
    const int64_t s = vae.config().downscale(), multiple = 2 * s;
    require(channels == vae.config().in_channels, SVDQ_ERROR_SHAPE_MISMATCH,
            "the image has " + std::to_string(channels) + " channels, the VAE encodes " + std::to_string(vae.config().in_channels));
    require(height > 0 && width > 0 && height % multiple == 0 && width % multiple == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "the image is " + std::to_string(width) + " x " + std::to_string(height) +
                " (width x height); both sides must be positive multiples of " + std::to_string(multiple) +
                " (the VAE's downscale " + std::to_string(s) + " times the 2x2 latent patch)");
    FluxLatentShape shape;
    shape.channels = vae.config().latent_channels;
    shape.height = height / s;
    shape.width = width / s;
    return shape;
}

std::vector<float> encode_flux_image(Context& ctx, const AutoencoderKL& vae, const float* image, const FluxLatentShape& shape,
                                     const FluxImageEncoding& encoding, const VaeTiling& tiling) {
    const int64_t s = vae.config().downscale();
    const size_t count = static_cast<size_t>(shape.numel());
    std::vector<float> mean(count), logvar(count);
    vae.encode(ctx, image, {1, vae.config().in_channels, shape.height * s, shape.width * s}, mean.data(), logvar.data(), tiling);
    std::vector<float> z = encoding.sample ? sample_posterior(mean.data(), logvar.data(), count, encoding.seed) : std::move(mean);
    vae_to_latents(vae.config(), z.data(), z.size());
    return pack_latents(z, shape);
}

}  // namespace svdq
