// W4A4 activations: one block per token. Each warp quantizes whole groups of
// 64 (two values per lane, absmax by shuffles), then computes branch ranks
// from the same row, which the block has just brought into cache.
#include "backend/cuda/cuda_error.cuh"
#include "backend/cuda/cuda_kernels.cuh"
#include "backend/cuda/cuda_op_util.cuh"

namespace svdq::cuda {

namespace {

constexpr int kWarps = 8;

__global__ void __launch_bounds__(32 * kWarps) quantize_act_kernel(QuantizeActArgs a) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t m = blockIdx.x, groups = a.k / 64;
    const float* x = a.x + m * a.k;
    const float levels = a.is_unsigned ? 15.0f : 7.0f, lowest = a.is_unsigned ? 0.0f : -8.0f;
    for (int64_t g = warp; a.codes != nullptr && g < groups; g += kWarps) {
        const int64_t j = g * 64 + 2 * lane;
        const float2 pair = *reinterpret_cast<const float2*>(x + j);
        float v0 = pair.x + a.shift, v1 = pair.y + a.shift;
        if (a.inv_smooth != nullptr) {
            v0 *= a.inv_smooth[j];
            v1 *= a.inv_smooth[j + 1];
        }
        const float absmax = warp_max(fmaxf(fabsf(v0), fabsf(v1)));
        // As the CPU: multiply by levels / absmax, round half to even, clamp.
        const float inv = absmax > 0.0f ? levels / absmax : 0.0f;
        const int q0 = static_cast<int>(fminf(fmaxf(rintf(v0 * inv), lowest), levels));
        const int q1 = static_cast<int>(fminf(fmaxf(rintf(v1 * inv), lowest), levels));
        a.codes[m * (a.k / 2) + g * 32 + lane] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
        if (lane == 0) a.scales[m * groups + g] = absmax / levels;
    }
    if (a.down == nullptr) return;
    for (int64_t r = warp; r < a.rank; r += kWarps) {
        const uint16_t* down = a.down + r * a.k;
        float partial = 0.0f;
        for (int64_t j = lane; j < a.k; j += 32) partial += x[j] * bf16_bits_to_float(down[j]);
        const float total = warp_sum(partial);
        if (lane == 0) a.lowrank[m * a.rank + r] = total;
    }
}

}  // namespace

void quantize_activations(const QuantizeActArgs& a, cudaStream_t stream) {
    if (a.m == 0) return;
    quantize_act_kernel<<<static_cast<unsigned>(a.m), 32 * kWarps, 0, stream>>>(a);
    check_launch("quantize_act_kernel");
}

}  // namespace svdq::cuda
