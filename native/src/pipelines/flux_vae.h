// What FluxPipeline does around the VAE, on the transformer's packed latents:
// decoding them into an image (unpack, latents / scaling_factor +
// shift_factor, vae.decode) and encoding an image into packed latents for
// image-to-image (vae.encode, the posterior's mode or a seeded sample,
// (z - shift_factor) * scaling_factor, pack). Batch 1.
#pragma once

#include <cstdint>
#include <vector>

#include "models/vae/autoencoder_kl.h"
#include "sampling/flux_latents.h"

namespace svdq {

class Context;

// The latent image that packed latents [S_img, 4C] of a latent_height x
// latent_width image hold, checked against the VAE: both sides positive and
// even, S_img = (h / 2) (w / 2), C the VAE's latent channels
// (SVDQ_ERROR_SHAPE_MISMATCH naming what does not fit).
FluxLatentShape flux_vae_latent_shape(const AutoencoderKL& vae, int64_t tokens, int64_t token_features, int64_t latent_height,
                                      int64_t latent_width);

// packed [S_img, 4C] of `shape` -> image [out_channels, 8h, 8w] (NCHW, batch 1), in [-1, 1] for a trained VAE.
void decode_flux_latents(Context& ctx, const AutoencoderKL& vae, const std::vector<float>& packed, const FluxLatentShape& shape,
                         float* image, const VaeTiling& tiling);

// How an image becomes latents: the posterior's mode (its mean, what
// FluxImg2ImgPipeline's retrieve_latents takes with sample_mode "argmax") or a
// seeded sample (sample_posterior, vae_scaling.h).
struct FluxImageEncoding {
    bool sample = false;
    uint64_t seed = 0;
};

// The latent shape of an image [in_channels, height, width]: both sides
// multiples of 2 x the VAE's downscale (16 for FLUX.1), so the latents pack
// into 2x2 patches (SVDQ_ERROR_SHAPE_MISMATCH naming the size otherwise).
FluxLatentShape flux_vae_image_shape(const AutoencoderKL& vae, int64_t channels, int64_t height, int64_t width);

// image [in_channels, H, W] (values in [-1, 1]) -> packed latents [S_img, 4C]
// in the transformer's space, ready as a generator's init latents.
std::vector<float> encode_flux_image(Context& ctx, const AutoencoderKL& vae, const float* image, const FluxLatentShape& shape,
                                     const FluxImageEncoding& encoding, const VaeTiling& tiling);

}  // namespace svdq
