// One CUDA backend instance: a device, the stream every op of this context
// runs on, cuBLAS on that stream, and scratch reused across calls.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/plugin/backend_plugin.h"
#include "backend/cuda/cuda_error.cuh"

namespace svdq::cuda {

// Device memory grown on demand and kept: a forward of a repeated shape allocates nothing.
class DeviceScratch {
public:
    DeviceScratch() = default;
    DeviceScratch(const DeviceScratch&) = delete;
    DeviceScratch& operator=(const DeviceScratch&) = delete;
    ~DeviceScratch() { cudaFree(data_); }
    void* get(size_t bytes);
    template <class T>
    T* as(size_t count) { return static_cast<T*>(get(count * sizeof(T))); }

private:
    void* data_ = nullptr;
    size_t bytes_ = 0;
};

struct CudaBackend {
    int device = 0;
    int compute_capability = 0;  // major * 10 + minor
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    DeviceScratch act_codes, act_scales, lowrank_act, x_bf16, flag;
    DeviceScratch next_codes, next_scales;  // a fused MLP's hand-off to its second layer
};

// Makes the backend's device current on the calling thread.
void activate_device(const CudaBackend& b);

// Threads per block for element-wise kernels, and the grid covering `count` items.
constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }

}  // namespace svdq::cuda
