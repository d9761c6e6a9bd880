#include "models/vae/vae_tiling.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace svdq {

void blend_vertical(const HostImage& a, HostImage& b, int64_t blend) {
    const int64_t extent = std::min({a.size.height, b.size.height, blend});
    const int64_t width = std::min(a.size.width, b.size.width);
    for (int64_t c = 0; c < b.channels; ++c)
        for (int64_t y = 0; y < extent; ++y) {
            const float t = static_cast<float>(static_cast<double>(y) / static_cast<double>(extent));
            const float* above = a.values.data() + (c * a.size.height + a.size.height - extent + y) * a.size.width;
            float* row = b.values.data() + (c * b.size.height + y) * b.size.width;
            for (int64_t x = 0; x < width; ++x) row[x] = above[x] * (1.0f - t) + row[x] * t;
        }
}

void blend_horizontal(const HostImage& a, HostImage& b, int64_t blend) {
    const int64_t extent = std::min({a.size.width, b.size.width, blend});
    const int64_t height = std::min(a.size.height, b.size.height);
    for (int64_t c = 0; c < b.channels; ++c)
        for (int64_t y = 0; y < height; ++y) {
            const float* left = a.values.data() + (c * a.size.height + y) * a.size.width + a.size.width - extent;
            float* row = b.values.data() + (c * b.size.height + y) * b.size.width;
            for (int64_t x = 0; x < extent; ++x) {
                const float t = static_cast<float>(static_cast<double>(x) / static_cast<double>(extent));
                row[x] = left[x] * (1.0f - t) + row[x] * t;
            }
        }
}

void run_tiled(const float* input, int64_t channels, ImageSize size, const TileGrid& grid, float* output, int64_t out_channels,
               ImageSize out_size, FunctionRef<HostImage(const HostImage& tile)> model) {
    std::vector<HostImage> above, row;
    for (int64_t i = 0, ti = 0; i < size.height; i += grid.stride, ++ti) {
        row.clear();
        for (int64_t j = 0, tj = 0; j < size.width; j += grid.stride, ++tj) {
            HostImage tile(channels, {std::min(grid.tile, size.height - i), std::min(grid.tile, size.width - j)});
            for (int64_t c = 0; c < channels; ++c)
                for (int64_t y = 0; y < tile.size.height; ++y)
                    std::memcpy(&tile.at(c, y, 0), input + (c * size.height + i + y) * size.width + j,
                                static_cast<size_t>(tile.size.width) * sizeof(float));
            HostImage result = model(tile);
            if (ti > 0) blend_vertical(above[static_cast<size_t>(tj)], result, grid.blend);
            if (tj > 0) blend_horizontal(row.back(), result, grid.blend);
            // Every tile but the last of a row or column contributes exactly `limit` (the grid is
            // chosen so), so the crops tile the output.
            const int64_t oy = ti * grid.limit, ox = tj * grid.limit;
            const int64_t rows = std::min(grid.limit, result.size.height), cols = std::min(grid.limit, result.size.width);
            require(result.channels == out_channels && oy + rows <= out_size.height && ox + cols <= out_size.width, SVDQ_ERROR_INTERNAL,
                    "tiling: a tile's crop falls outside the output");
            for (int64_t c = 0; c < out_channels; ++c)
                for (int64_t y = 0; y < rows; ++y)
                    std::memcpy(output + (c * out_size.height + oy + y) * out_size.width + ox, &result.at(c, y, 0),
                                static_cast<size_t>(cols) * sizeof(float));
            row.push_back(std::move(result));
        }
        above.swap(row);
    }
}

}  // namespace svdq
