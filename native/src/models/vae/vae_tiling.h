// diffusers' AutoencoderKL tiling (enable_tiling: tiled_decode, tiled_encode)
// on host images: tiles of `tile` input pixels start every `stride`; each
// runs through the model, is blended with its upper neighbour (blend_v) and
// then its left one (blend_h), both already blended, over `blend` output
// rows or columns, and its first `limit` rows and columns go to the output.
// Only the previous row of tiles and the current one are kept, so host
// memory is two rows of output tiles whatever the image size.
#pragma once

#include <cstdint>
#include <vector>

#include "core/function_ref.h"
#include "models/vae/vae_layers.h"

namespace svdq {

// A host image [channels, height, width] (one of a batch in NCHW order).
struct HostImage {
    int64_t channels = 0;
    ImageSize size;
    std::vector<float> values;

    HostImage() = default;
    HostImage(int64_t c, ImageSize s) : channels(c), size(s), values(static_cast<size_t>(c * s.pixels())) {}
    float& at(int64_t c, int64_t y, int64_t x) { return values[static_cast<size_t>((c * size.height + y) * size.width + x)]; }
};

struct TileGrid {
    int64_t tile = 0;    // input side of a full tile
    int64_t stride = 0;  // input distance between tile starts
    int64_t blend = 0;   // output rows or columns blended with a neighbour
    int64_t limit = 0;   // output rows and columns a tile contributes
};

// b's first rows (columns) become a's last ones * (1 - y / extent) + b's * (y / extent),
// extent = min(blend, both sides): diffusers' blend_v (blend_h), in place.
void blend_vertical(const HostImage& a, HostImage& b, int64_t blend);
void blend_horizontal(const HostImage& a, HostImage& b, int64_t blend);

// Runs `model` on the tiles of input [channels, size] and writes the blended
// result into output [out_channels, out_size] (contiguous, NCHW).
void run_tiled(const float* input, int64_t channels, ImageSize size, const TileGrid& grid, float* output, int64_t out_channels,
               ImageSize out_size, FunctionRef<HostImage(const HostImage& tile)> model);

}  // namespace svdq
