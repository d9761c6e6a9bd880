// diffusers' AutoencoderKL: decode latents to images and encode images to
// the latent distribution's mean and logvar, on host tensors in diffusers'
// NCHW layout, one image of the batch at a time. Above a tile size both run
// tiled as enable_tiling does (vae_tiling.h), so memory depends on the tile,
// not on the image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/vae/vae_checkpoint.h"
#include "models/vae/vae_decoder.h"
#include "models/vae/vae_encoder.h"
#include "models/vae/vae_tiling.h"

namespace svdq {

struct VaeTiling {
    // true: tile an image whose side exceeds the tile (diffusers' use_tiling);
    // false: never (diffusers' default; memory grows with the image).
    bool automatic = true;
    // Tile side in pixels, a multiple of 4 * downscale (so tiles cover the
    // output exactly); 0: the config's sample_size, at most kMaxDefaultTile,
    // rounded down to such a multiple. A smaller tile forces tiling.
    int64_t tile_sample_size = 0;
};

class AutoencoderKL {
public:
    // The largest tile the default picks (FLUX.1's sample_size).
    static constexpr int64_t kMaxDefaultTile = 1024;
    // DiagonalGaussianDistribution's clamp of logvar.
    static constexpr float kLogvarMin = -30.0f, kLogvarMax = 20.0f;

    // A VAE folder (config.json + diffusion_pytorch_model.safetensors) or a
    // pipeline folder with vae/; every tensor checked, none left unused.
    AutoencoderKL(Context& ctx, const std::string& path);

    const VaeConfig& config() const { return checkpoint_.config(); }
    int64_t parameter_count() const { return checkpoint_.parameter_count(); }

    // [batch, out_channels, s h, s w] for latents [batch, latent_channels, h, w];
    // SVDQ_ERROR_SHAPE_MISMATCH naming what does not fit.
    std::vector<int64_t> decoded_shape(const std::vector<int64_t>& latents) const;
    // [batch, latent_channels, H / s, W / s] for an image [batch, in_channels, H, W]
    // whose sides are multiples of s; SVDQ_ERROR_SHAPE_MISMATCH otherwise.
    std::vector<int64_t> encoded_shape(const std::vector<int64_t>& image) const;

    // vae.decode(latents): no scaling (see vae_scaling.h); image of decoded_shape.
    void decode(Context& ctx, const float* latents, const std::vector<int64_t>& shape, float* image,
                const VaeTiling& tiling = {}) const;
    // vae.encode(image).latent_dist: mean and logvar (clamped to [-30, 20]) of encoded_shape.
    void encode(Context& ctx, const float* image, const std::vector<int64_t>& shape, float* mean, float* logvar,
                const VaeTiling& tiling = {}) const;

    // The tile side in pixels the options give (checked).
    int64_t tile_sample_size(const VaeTiling& tiling) const;

private:
    HostImage decode_tile(Context& ctx, const HostImage& latents) const;
    HostImage encode_tile(Context& ctx, const HostImage& image) const;

    VaeCheckpoint checkpoint_;
    VaeDecoder decoder_;
    VaeEncoder encoder_;
};

}  // namespace svdq
