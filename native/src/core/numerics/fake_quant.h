// Quantize-then-dequantize in either 4-bit format: what a quantized GEMM
// computes, as float. The quantizer scores candidates with it, and NVFP4
// layers run through it on the CPU (no FP4 arithmetic here).
#pragma once

#include <cstdint>

#include "svdquant.h"

namespace svdq {

class ThreadPool;

// The format's group size along K (64 for INT4, 16 for NVFP4).
int64_t format_group_size(svdq_number_format format);

// out = Q(x) for rows [rows, k]. INT4 scales are per row and group anyway;
// NVFP4 takes one tensor scale per row when per_row_tensor_scale (activations,
// per token), else one for the whole matrix (weights). pool nullptr: on this
// thread (inside another parallel loop).
void fake_quantize_rows(svdq_number_format format, const float* x, int64_t rows, int64_t k, bool per_row_tensor_scale,
                        float* out, ThreadPool* pool);

}  // namespace svdq
