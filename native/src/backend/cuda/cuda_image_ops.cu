// The CUDA backend's image ops on [pixels, channels] views (NHWC), with the
// semantics of the CPU's cpu_image_ops.cpp: GroupNorm (+ SiLU) and the im2col
// rows of a 3x3 convolution (whose GEMM runs through the linear op).
#include <cmath>

#include "backend/cuda/cuda_op_util.cuh"
#include "backend/cuda/cuda_ops.cuh"

namespace svdq::cuda {

namespace {

constexpr int kGroupThreads = 1024;          // one block per group: many loads in flight
constexpr int64_t kMaxChannelsPerGroup = 4096;  // the folded scale and shift sit in shared memory

// One block per group. Its sum and sum of squares over all its pixels and
// channels in fp64, as the CPU's (mean, biased variance = E[x^2] - mean^2,
// clamped at 0); then, as the CPU folds them, per channel
// scale = inv_std * weight and shift = bias - mean * inv_std * weight
// (fp64, rounded to float), and y = x * scale + shift, SiLU'd when `silu`.
// Blocks touch disjoint channels and a block writes only after its sums, so
// out may be x.
__global__ void __launch_bounds__(kGroupThreads)
    group_norm_groups(const float* x, int64_t x_stride, int64_t pixels, int64_t per_group, float eps, const float* weight,
                      const float* bias, bool silu, float* out, int64_t out_stride) {
    __shared__ double partial[32];
    extern __shared__ float folded[];  // scale [per_group], then shift [per_group]
    const int64_t first_channel = static_cast<int64_t>(blockIdx.x) * per_group, count = pixels * per_group;
    double sum = 0.0, squares = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const double v = x[element(i / per_group, first_channel + i % per_group, x_stride)];
        sum += v;
        squares += v * v;
    }
    sum = block_sum(sum, partial);
    squares = block_sum(squares, partial);
    const double n = static_cast<double>(count), mean = sum / n, variance = fmax(0.0, squares / n - mean * mean);
    const double inv_std = 1.0 / sqrt(variance + eps);
    for (int64_t c = threadIdx.x; c < per_group; c += blockDim.x) {
        const int64_t channel = first_channel + c;
        folded[c] = static_cast<float>(inv_std * weight[channel]);
        folded[per_group + c] = static_cast<float>(bias[channel] - mean * inv_std * weight[channel]);
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const int64_t pixel = i / per_group, c = i % per_group;
        const float y = x[element(pixel, first_channel + c, x_stride)] * folded[c] + folded[per_group + c];
        out[element(pixel, first_channel + c, out_stride)] = silu ? y / (1.0f + expf(-y)) : y;
    }
}

// Column (ky * 3 + kx) * channels + c of output pixel `pixel`: image pixel
// (iy, ix) = (oy * stride + ky - pad_top, ox * stride + kx - pad_left) of the
// upsampled image, stored pixel (iy / upsample, ix / upsample), or 0 outside.
struct ConvPatchValue {
    const float* image;
    int64_t image_stride, channels;
    svdq_plugin_conv_geometry g;
    int64_t first_out_row;
    float* out;
    int64_t out_stride;
    __device__ void operator()(int64_t pixel, int64_t column) const {
        const int64_t tap = column / channels, c = column % channels;
        const int64_t oy = first_out_row + pixel / g.out_width, ox = pixel % g.out_width;
        const int64_t iy = oy * g.stride + tap / 3 - g.pad_top, ix = ox * g.stride + tap % 3 - g.pad_left;
        const bool inside = iy >= 0 && iy < g.height * g.upsample && ix >= 0 && ix < g.width * g.upsample;
        out[element(pixel, column, out_stride)] =
            inside ? image[element(iy / g.upsample * g.width + ix / g.upsample, c, image_stride)] : 0.0f;
    }
};

}  // namespace

void group_norm(CudaBackend& b, const View& x, int64_t groups, const View& weight, const View& bias, float eps, bool silu,
                const View& out) {
    const int64_t pixels = x.rows, channels = x.cols;
    if (groups < 1 || channels % groups != 0)
        fail(SVDQ_ERROR_INVALID_ARGUMENT,
             "group_norm: " + std::to_string(groups) + " groups do not split " + std::to_string(channels) + " channels");
    require_parameter_row(weight, channels, "group_norm", "weight");
    require_parameter_row(bias, channels, "group_norm", "bias");
    require_shape(out, pixels, channels, "group_norm", "out");
    const int64_t per_group = channels / groups;
    if (per_group > kMaxChannelsPerGroup)
        fail(SVDQ_ERROR_UNSUPPORTED, "group_norm: " + std::to_string(per_group) +
                                         " channels per group exceed the CUDA backend's " + std::to_string(kMaxChannelsPerGroup));
    if (pixels == 0 || channels == 0) return;
    const size_t folded_bytes = static_cast<size_t>(2 * per_group) * sizeof(float);
    group_norm_groups<<<grid_blocks(groups, "group_norm"), kGroupThreads, folded_bytes, b.stream>>>(
        x.data, x.row_stride, pixels, per_group, eps, weight.data, bias.data, silu, out.data, out.row_stride);
    check_launch("group_norm");
}

void conv3x3_patches(CudaBackend& b, const View& image, const svdq_plugin_conv_geometry& g, int64_t first_out_row,
                     const View& out) {
    const int64_t channels = image.cols;
    if (g.height < 0 || g.width < 0 || g.upsample < 1 || g.stride < 1 || g.out_width < 1 || g.out_height < 0)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, "conv3x3_patches: geometry of a " + shape_text(g.height, g.width) +
                                              " image, upsample " + std::to_string(g.upsample) + ", stride " +
                                              std::to_string(g.stride) + ", output " + shape_text(g.out_height, g.out_width));
    if (image.rows != g.height * g.width || out.cols != 9 * channels || out.rows % g.out_width != 0 || first_out_row < 0 ||
        first_out_row + out.rows / g.out_width > g.out_height)
        fail(SVDQ_ERROR_SHAPE_MISMATCH, "conv3x3_patches: out " + shape_text(out) + " from output row " +
                                            std::to_string(first_out_row) + " does not fit the geometry of a " +
                                            shape_text(image) + " image");
    launch_for_each_element(b, out.rows, out.cols,
                            ConvPatchValue{image.data, image.row_stride, channels, g, first_out_row, out.data, out.row_stride},
                            "conv3x3_patches");
}

}  // namespace svdq::cuda
