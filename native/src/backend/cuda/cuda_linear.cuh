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
// y = second(first(x)). Two INT4 W4A4 layers with nothing joining after their GEMMs (first with GELU)
// run as Nunchaku's fused MLP: first's epilogue writes hidden and quantizes it for second (second's
// smoothing, shift and signedness), so second skips its own pass over hidden for quantizing; any
// other pair runs as two layers.
void run_mlp(CudaBackend& b, const CudaLinear& first, const CudaLinear& second, const View& x, const View& hidden, const View& y);

}  // namespace svdq::cuda
