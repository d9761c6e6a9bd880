// Linear layers on the CUDA backend: uploaded once from the engine's host
// preparation (backend_plugin.h's svdq_plugin_linear_desc), run per call.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_ops.cuh"

namespace svdq::cuda {

struct CudaLinear;

CudaLinear* prepare_linear(CudaBackend& b, const svdq_plugin_linear_desc& desc);
void destroy_linear(CudaLinear* layer) noexcept;
uint64_t linear_memory_bytes(const CudaLinear& layer);
// Replaces the layer's extra low-rank terms; nothing changes when it throws.
void set_low_rank_updates(CudaBackend& b, CudaLinear& layer, const svdq_plugin_low_rank_update* updates, int32_t count);
void run_linear(CudaBackend& b, const CudaLinear& layer, const View& x, const View& y);

}  // namespace svdq::cuda
