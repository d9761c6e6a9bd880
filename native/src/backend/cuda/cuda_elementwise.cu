// Small kernels around the GEMMs: the float layers' epilogue, BF16 staging
// of activations for cuBLAS, and the non-finite input check.
#include "backend/cuda/cuda_backend.cuh"
#include "backend/cuda/cuda_kernels.cuh"

namespace svdq::cuda {

namespace {

__global__ void bias_activation_kernel(float* y, int64_t rows, int64_t cols, const float* bias, bool gelu) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= rows * cols) return;
    float v = y[i];
    if (bias != nullptr) v += bias[i % cols];
    y[i] = gelu ? gelu_tanh(v) : v;
}

__global__ void to_bf16_kernel(const float* x, int64_t count, uint16_t* out) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= count) return;
    const uint32_t bits = __float_as_uint(x[i]);
    out[i] = static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);  // inputs are finite (checked)
}

__global__ void find_non_finite_kernel(const float* x, int64_t count, unsigned long long* first) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < count && !isfinite(x[i])) atomicMin(first, static_cast<unsigned long long>(i));
}

}  // namespace

void bias_activation(float* y, int64_t rows, int64_t cols, const float* bias, bool gelu, cudaStream_t stream) {
    if (rows * cols == 0 || (bias == nullptr && !gelu)) return;
    bias_activation_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, rows, cols, bias, gelu);
    check_launch("bias_activation_kernel");
}

void to_bf16(const float* x, int64_t count, uint16_t* out, cudaStream_t stream) {
    if (count == 0) return;
    to_bf16_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, count, out);
    check_launch("to_bf16_kernel");
}

void find_non_finite(const float* x, int64_t count, unsigned long long* first, cudaStream_t stream) {
    if (count == 0) return;
    find_non_finite_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, count, first);
    check_launch("find_non_finite_kernel");
}

}  // namespace svdq::cuda
