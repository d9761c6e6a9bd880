// What FluxPipeline and VaeImageProcessor do around the VAE: the latent
// scaling between the transformer's space and the VAE's, sampling the
// encoder's distribution, and the conversion of decoded images to 8 bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "models/vae/vae_config.h"

namespace svdq {

// The noise stream a seeded posterior sample draws from (sampling/noise.h);
// apart from the initial noise (stream 0) and the ancestral steps (1 + i).
constexpr uint32_t kVaeSampleStream = 0x56414500;  // "VAE\0"

// FluxPipeline before vae.decode: z = latents / scaling_factor + shift_factor, in place.
void latents_to_vae(const VaeConfig& config, float* latents, size_t count);
// Image-to-image after vae.encode: latents = (z - shift_factor) * scaling_factor, in place.
void vae_to_latents(const VaeConfig& config, float* z, size_t count);

// DiagonalGaussianDistribution.sample: mean + exp(0.5 * logvar) * noise, the
// noise element i being element i of GaussianNoise(seed, kVaeSampleStream)
// (mean's NCHW order, as randn_tensor(mean.shape) fills it).
std::vector<float> sample_posterior(const float* mean, const float* logvar, size_t count, uint64_t seed);

// VaeImageProcessor.postprocess to PIL: round(clamp(x / 2 + 0.5, 0, 1) * 255)
// (numpy's round: half to even) of an image [channels, height, width], as
// interleaved bytes [height, width, channels].
std::vector<uint8_t> image_to_8bit(const float* image, int64_t channels, int64_t height, int64_t width);

}  // namespace svdq
