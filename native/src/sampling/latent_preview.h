// A cheap RGB preview of FLUX latents without the VAE: one pixel per latent
// pixel (latent height x latent width, 1/8 of the image's sides), as
// ComfyUI's Latent2RGB previewer draws it.
//
// 16 channels (FLUX.1): ComfyUI's linear latent-to-RGB projection,
//   rgb[k] = sum_c latent[c] * factor[c][k] + bias[k]
// applied to the model-space latents the transformer and sampler work in
// (ComfyUI previews the sampler's x0 after process_in, i.e.
// (vae_latent - 0.1159) * 0.3611; diffusers' FluxPipeline latents are the
// same space). Any state works; the denoised estimate x0 = x - sigma * v is
// what ComfyUI shows.
//
// Other channel counts (no published factors): latent channels 0, 1, 2 drawn
// as R, G, B (a channel index past the last repeats the last channel, so one
// channel is grey), each stretched by its own minimum and maximum over the
// image's finite values to [-1, 1]; a constant channel is 0 (mid grey).
//
// Both then map v in [-1, 1] to a byte as ComfyUI's preview_to_image does:
// clamp to [-1, 1], (v + 1) * 127.5, round to nearest (ties to even, as
// torch.round). NaN is byte 0. Alpha is 255. Math in float64 on the host,
// the same bits everywhere.
#pragma once

#include <cstdint>
#include <vector>

#include "sampling/flux_latents.h"

namespace svdq {

struct LatentPreview {
    int64_t width = 0;          // latent width * upscale
    int64_t height = 0;         // latent height * upscale
    std::vector<uint8_t> rgba;  // width * height * 4 bytes, R G B A, row-major, top row first
};

constexpr int kMaxPreviewUpscale = 8;  // 8: one preview pixel per image pixel

// packed: the transformer's tokens [S_img, 4C] (flux_latents.h). upscale
// repeats every pixel upscale x upscale times (nearest neighbour), in
// [1, kMaxPreviewUpscale]. SVDQ_ERROR_INVALID_ARGUMENT naming the value when
// the shape is not a FLUX latent shape (channels outside [1, 4096], a side
// odd or outside [2, 8192]) or upscale is out of range;
// SVDQ_ERROR_SHAPE_MISMATCH when packed does not hold shape.numel() values.
LatentPreview latent_preview_rgba(const std::vector<float>& packed, const FluxLatentShape& shape, int upscale = 1);

}  // namespace svdq
