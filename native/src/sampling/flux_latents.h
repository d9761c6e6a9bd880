// FLUX latents on the host, laid out as diffusers' FluxPipeline lays them out:
// the VAE's [C, H/8, W/8] latent image and the transformer's packed tokens
// [S_img, 4C], 2x2 patches in row-major patch order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace svdq {

struct FluxLatentShape {
    int64_t channels = 0;  // C: the VAE's latent channels (16 for FLUX.1), in_channels / 4
    int64_t height = 0;    // latent rows, even: 2 * (pixel height // 16)
    int64_t width = 0;     // latent columns, even: 2 * (pixel width // 16)

    int64_t tokens() const { return (height / 2) * (width / 2); }  // S_img
    int64_t token_features() const { return 4 * channels; }          // in_channels of the transformer
    int64_t numel() const { return channels * height * width; }
    int64_t pixel_height() const { return 8 * height; }  // the image size the pipeline really makes
    int64_t pixel_width() const { return 8 * width; }
};

// The latent shape for an image of pixel_width x pixel_height, rounded down as
// the pipeline rounds (vae_scale_factor 8, multiple of 16: 2 * (h // 16)).
// SVDQ_ERROR_INVALID_ARGUMENT naming the value when a side is below 16 pixels
// (no 2x2 patch of latents) or above 65536, or channels is outside [1, 4096].
FluxLatentShape flux_latent_shape(int64_t pixel_width, int64_t pixel_height, int64_t channels);

// [C, H, W] -> [S_img, 4C] (_pack_latents): token (r, c) = r * (W/2) + c holds
// feature ch * 4 + dy * 2 + dx = latent[ch, 2r + dy, 2c + dx].
std::vector<float> pack_latents(const std::vector<float>& latents, const FluxLatentShape& shape);

// [S_img, 4C] -> [C, H, W] (_unpack_latents), the inverse of pack_latents.
std::vector<float> unpack_latents(const std::vector<float>& tokens, const FluxLatentShape& shape);

// img_ids [S_img, 3] (_prepare_latent_image_ids): token (r, c) gets (0, r, c).
std::vector<float> flux_image_ids(const FluxLatentShape& shape);

// txt_ids [text_tokens, 3]: zeros.
std::vector<float> flux_text_ids(int64_t text_tokens);

// The latent-level inpainting blend FluxInpaintPipeline applies after every
// step, per element of the packed latents:
//   latents = (1 - mask) * scale_noise(original, sigma_next, noise) + mask * latents
// mask 1 repaints, mask 0 keeps the original (encoded image latents); noise is
// the run's initial noise; sigma_next the sigma the step arrived at (0 after
// the last step: the original itself). A per-pixel mask is expanded over the
// channels and packed with pack_latents first. All four have latents' size
// (SVDQ_ERROR_SHAPE_MISMATCH otherwise).
void inpaint_blend(std::vector<float>& latents, const std::vector<float>& original, const std::vector<float>& noise,
                   const std::vector<float>& mask, float sigma_next);

}  // namespace svdq
