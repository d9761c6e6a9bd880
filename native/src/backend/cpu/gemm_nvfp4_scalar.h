// The NVFP4 GEMM's scalar reference, straight from the format: E2M1 values
// doubled are the integers {0, 1, 2, 3, 4, 6, 8, 12}, so each 16-group's dot
// product is exact in int32; it is scaled by both E4M3 group scales and both
// tensor scales. The float emulation NVFP4 layers run is tested against it.
#pragma once

#include <cstdint>

#include "core/numerics/nvfp4_quant.h"

namespace svdq {

// y [x.rows, w.rows] = Q(X) Q(W)^T. x_tensor_scales: one per row of x (per
// token activations), or nullptr for x.tensor_scale.
void gemm_nvfp4_reference(const Nvfp4Tensor& x, const float* x_tensor_scales, const Nvfp4Tensor& w, float* y);

}  // namespace svdq
