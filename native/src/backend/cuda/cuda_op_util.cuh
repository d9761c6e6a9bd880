// What the CUDA backend's ops share: argument checks whose messages name the
// op and the sizes (built only on failure), addressing in strided views, a
// launch of one thread per element, and sums and maxima over a warp and a
// block.
#pragma once

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_ops.cuh"

namespace svdq::cuda {

// ---- Host: argument checks ----

inline std::string shape_text(int64_t rows, int64_t cols) {
    return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}
inline std::string shape_text(const View& v) { return shape_text(v.rows, v.cols); }

// `what` of op must be [rows, cols].
inline void require_shape(const View& v, int64_t rows, int64_t cols, const char* op, const char* what) {
    if (v.rows != rows || v.cols != cols)
        fail(SVDQ_ERROR_SHAPE_MISMATCH,
             std::string(op) + ": " + what + " is " + shape_text(v) + ", expected " + shape_text(rows, cols));
}

// A parameter row shared by every row of the input: [1, cols] (only its first row is read).
inline void require_parameter_row(const View& v, int64_t cols, const char* op, const char* what) {
    if (v.data == nullptr || v.rows < 1 || v.cols != cols)
        fail(SVDQ_ERROR_SHAPE_MISMATCH,
             std::string(op) + ": " + what + " is " + shape_text(v) + ", expected " + shape_text(1, cols));
}

inline void require_contiguous(const View& v, const char* op, const char* what) {
    if (v.row_stride != v.cols)
        fail(SVDQ_ERROR_INVALID_ARGUMENT, std::string(op) + ": " + what + " must be contiguous (" + what + " is " +
                                              shape_text(v) + " with row stride " + std::to_string(v.row_stride) + ")");
}

// A grid dimension: CUDA's x is at most 2^31 - 1 blocks.
inline unsigned grid_blocks(int64_t count, const char* op) {
    if (count > 0x7fffffff) fail(SVDQ_ERROR_INVALID_ARGUMENT, std::string(op) + ": " + std::to_string(count) + " blocks exceed CUDA's grid");
    return static_cast<unsigned>(count);
}

// ---- Device: addressing ----

// Element (row, col) of a view whose rows are row_stride floats apart.
__host__ __device__ inline int64_t element(int64_t row, int64_t col, int64_t row_stride) { return row * row_stride + col; }

// ---- One thread per element of a [rows, cols] index space ----

// op(row, col) for every row < rows, col < cols.
template <class Op>
__global__ void for_each_element(Op op, int64_t rows, int64_t cols) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < rows * cols) op(i / cols, i % cols);
}

template <class Op>
void launch_for_each_element(CudaBackend& b, int64_t rows, int64_t cols, const Op& op, const char* kernel) {
    if (rows <= 0 || cols <= 0) return;  // an empty grid is not a valid launch
    const unsigned blocks = grid_blocks((rows * cols + kThreads - 1) / kThreads, kernel);
    for_each_element<<<blocks, kThreads, 0, b.stream>>>(op, rows, cols);
    check_launch(kernel);
}

// ---- Device: reductions ----

constexpr unsigned kFullWarp = 0xffffffffu;

// The xor butterfly leaves the same value, bit for bit, in every lane (a + b == b + a).
template <class T>
__device__ inline T warp_sum(T v) {
    for (int lanes = 16; lanes > 0; lanes /= 2) v += __shfl_xor_sync(kFullWarp, v, lanes);
    return v;
}

__device__ inline float warp_max(float v) {
    for (int lanes = 16; lanes > 0; lanes /= 2) v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, lanes));
    return v;
}

// The sum of v over the block, the same in every thread. blockDim.x is a
// multiple of 32 (at most 1024); partial is __shared__ T[32]. Every thread
// must call it; it ends with a barrier, so partial can be reused at once.
template <class T>
__device__ T block_sum(T v, T* partial) {
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    T total = 0;
    for (unsigned w = 0; w < warps; ++w) total += partial[w];
    __syncthreads();
    return total;
}

}  // namespace svdq::cuda
