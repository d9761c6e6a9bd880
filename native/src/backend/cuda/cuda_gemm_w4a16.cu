// The W4A16 GEMM (AWQ-style weights, float activations): 64x64 output tiles,
// K in groups of 64 staged through shared memory with the weights
// dequantized as they arrive; each of 256 threads computes 4x4 outputs.
#include "backend/cuda/cuda_error.cuh"
#include "backend/cuda/cuda_kernels.cuh"

namespace svdq::cuda {

namespace {

constexpr int kTile = 64, kGroup = 64, kPad = 1;

__global__ void __launch_bounds__(256) gemm_w4a16_kernel(GemmW4A16Args a) {
    __shared__ float xs[kTile][kGroup + kPad];
    __shared__ float ws[kTile][kGroup + kPad];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile, n0 = static_cast<int64_t>(blockIdx.x) * kTile;
    const int64_t groups = a.k / kGroup, row_bytes = a.k / 2;
    float acc[4][4] = {};
    for (int64_t g = 0; g < groups; ++g) {
        for (int i = tid; i < kTile * kGroup; i += 256) {
            const int r = i / kGroup, c = i % kGroup;
            const int64_t m = m0 + r, n = n0 + r;
            xs[r][c] = m < a.m ? a.x[m * a.k + g * kGroup + c] : 0.0f;
            float w = 0.0f;
            if (n < a.n) {
                const uint8_t byte = a.w[n * row_bytes + (g * kGroup + c) / 2];
                const int nibble = (c & 1) ? byte >> 4 : byte & 0xF;
                const float scale = a.scales[n * groups + g];
                w = a.zeros != nullptr ? static_cast<float>(nibble) * scale + a.zeros[n * groups + g]  // (q + 8) * s + z
                                       : static_cast<float>((nibble ^ 8) - 8) * scale;
            }
            ws[r][c] = w;
        }
        __syncthreads();
        for (int c = 0; c < kGroup; ++c)
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] += xs[ty + 16 * i][c] * ws[tx + 16 * j][c];
        __syncthreads();
    }
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            if (m >= a.m || n >= a.n) continue;
            float v = acc[i][j];
            if (a.bias != nullptr) v += a.bias[n];
            a.y[m * a.n + n] = a.gelu ? gelu_tanh(v) : v;
        }
}

}  // namespace

void gemm_w4a16(const GemmW4A16Args& a, cudaStream_t stream) {
    if (a.m == 0 || a.n == 0) return;
    const dim3 grid(static_cast<unsigned>((a.n + kTile - 1) / kTile), static_cast<unsigned>((a.m + kTile - 1) / kTile));
    gemm_w4a16_kernel<<<grid, 256, 0, stream>>>(a);
    check_launch("gemm_w4a16_kernel");
}

}  // namespace svdq::cuda
