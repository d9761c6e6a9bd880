// The CPU backend's image ops on [pixels, channels] views (NHWC): GroupNorm
// (+ SiLU) and the im2col rows of a 3x3 convolution, whose GEMM runs through
// the ordinary linear op. Plain C++: both are memory-bound passes, one read
// and one write of each value, the same code at every kernel level.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace svdq {

namespace {

// Pixels per work item. Fixed, so a group's sums add up in the same order
// whatever the thread count.
constexpr int64_t kPixelsPerItem = 256;

}  // namespace

void CpuBackend::group_norm(const TensorView& x, int64_t groups, const TensorView& weight, const TensorView& bias, float eps,
                            bool silu, const TensorView& out) {
    const int64_t pixels = x.rows, channels = x.cols;
    if (groups < 1 || channels % groups != 0 || weight.cols != channels || bias.cols != channels || out.rows != pixels ||
        out.cols != channels)
        fail(SVDQ_ERROR_INTERNAL, "group_norm: " + std::to_string(groups) + " groups do not fit [" + std::to_string(pixels) +
                                      ", " + std::to_string(channels) + "] and its parameters");
    const int64_t per_group = channels / groups, items = (pixels + kPixelsPerItem - 1) / kPixelsPerItem;
    // Per item and group: sum and sum of squares, in float64.
    std::vector<double>& sums = scratch_.group_sums;
    sums.assign(static_cast<size_t>(items * groups * 2), 0.0);
    pool_.parallel_for(items, [&](int64_t item) {
        double* s = sums.data() + item * groups * 2;
        for (int64_t p = item * kPixelsPerItem; p < std::min(pixels, (item + 1) * kPixelsPerItem); ++p) {
            const float* row = x.data + p * x.row_stride;
            for (int64_t g = 0; g < groups; ++g) {
                double sum = 0.0, squares = 0.0;
                for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
                    sum += row[c];
                    squares += static_cast<double>(row[c]) * row[c];
                }
                s[2 * g] += sum;
                s[2 * g + 1] += squares;
            }
        }
    });
    // y = x * scale[c] + shift[c], the group's mean and 1 / std folded in.
    std::vector<float>& affine = scratch_.group_affine;
    affine.resize(static_cast<size_t>(channels * 2));
    const double count = static_cast<double>(pixels * per_group);
    for (int64_t g = 0; g < groups; ++g) {
        double sum = 0.0, squares = 0.0;
        for (int64_t item = 0; item < items; ++item) {
            sum += sums[(item * groups + g) * 2];
            squares += sums[(item * groups + g) * 2 + 1];
        }
        const double mean = sum / count, variance = std::max(0.0, squares / count - mean * mean);
        const double inv = 1.0 / std::sqrt(variance + eps);
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
            affine[c] = static_cast<float>(inv * weight.data[c]);
            affine[channels + c] = static_cast<float>(bias.data[c] - mean * inv * weight.data[c]);
        }
    }
    const float* scale = affine.data();
    const float* shift = affine.data() + channels;
    pool_.parallel_for(items, [&](int64_t item) {
        for (int64_t p = item * kPixelsPerItem; p < std::min(pixels, (item + 1) * kPixelsPerItem); ++p) {
            const float* in = x.data + p * x.row_stride;
            float* o = out.data + p * out.row_stride;
            for (int64_t c = 0; c < channels; ++c) {
                const float y = in[c] * scale[c] + shift[c];
                o[c] = silu ? y / (1.0f + std::exp(-y)) : y;
            }
        }
    });
}

void CpuBackend::conv3x3_patches(const TensorView& image, const ConvGeometry& g, int64_t first_out_row, const TensorView& out) {
    const int64_t channels = image.cols;
    if (image.rows != g.height * g.width || out.cols != 9 * channels || g.out_width < 1 || out.rows % g.out_width != 0 ||
        first_out_row < 0 || first_out_row + out.rows / g.out_width > g.out_height || g.upsample < 1 || g.stride < 1)
        fail(SVDQ_ERROR_INTERNAL, "conv3x3_patches: [" + std::to_string(out.rows) + ", " + std::to_string(out.cols) +
                                      "] does not fit the geometry of a [" + std::to_string(image.rows) + ", " +
                                      std::to_string(channels) + "] image");
    const int64_t rows = out.rows / g.out_width;
    const int64_t up_height = g.height * g.upsample, up_width = g.width * g.upsample;
    const size_t bytes = static_cast<size_t>(channels) * sizeof(float);
    pool_.parallel_for(rows, [&](int64_t r) {
        const int64_t oy = first_out_row + r;
        for (int64_t ox = 0; ox < g.out_width; ++ox) {
            float* dst = out.data + (r * g.out_width + ox) * out.row_stride;
            for (int64_t ky = 0; ky < 3; ++ky) {
                const int64_t iy = oy * g.stride + ky - g.pad_top;
                for (int64_t kx = 0; kx < 3; ++kx, dst += channels) {
                    const int64_t ix = ox * g.stride + kx - g.pad_left;
                    if (iy < 0 || iy >= up_height || ix < 0 || ix >= up_width)
                        std::memset(dst, 0, bytes);
                    else
                        std::memcpy(dst, image.data + (iy / g.upsample * g.width + ix / g.upsample) * image.row_stride, bytes);
                }
            }
        }
    });
}

}  // namespace svdq
