// Buffers and host transfers of the CUDA backend (cuda_memory.cu).
#pragma once

#include <cstddef>

#include "backend/cuda/cuda_ops.cuh"

namespace svdq::cuda {

void* allocate(CudaBackend& b, size_t bytes);
void release(CudaBackend& b, void* data) noexcept;
// host: dst.rows * dst.cols contiguous floats.
void upload(CudaBackend& b, const float* host, const View& dst);
void download(CudaBackend& b, const View& src, float* host);
void copy(CudaBackend& b, const View& src, const View& dst);

}  // namespace svdq::cuda
