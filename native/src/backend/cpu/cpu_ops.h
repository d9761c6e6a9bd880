// Runs CPU kernels over the thread pool: splits the output into tiles and
// hands each to the kernel table's version of the op.
#pragma once

#include <vector>

#include "backend/cpu/cpu_kernels.h"

namespace svdq {

class ThreadPool;

void run_quantize_act(const CpuKernels& kernels, ThreadPool& pool, const QuantizeActArgs& args);
// How many partial-sum slots the quantize stage of a GEMM with n output
// columns writes (its column tiles).
int64_t quantize_stage_slots(const CpuKernels& kernels, int64_t n);
void run_gemm_w4a4(const CpuKernels& kernels, ThreadPool& pool, const GemmW4A4Args& args);
// `prepared` holds x as the level's prepare_w4a16 leaves it (kept between calls).
void run_gemm_w4a16(const CpuKernels& kernels, ThreadPool& pool, GemmFloatArgs args, std::vector<float>& prepared);
void run_gemm_f32(const CpuKernels& kernels, ThreadPool& pool, const GemmFloatArgs& args);
void run_gemm_bf16(const CpuKernels& kernels, ThreadPool& pool, const GemmFloatArgs& args);

// The index of x's first Inf or NaN, or -1 (a vectorized pass over the pool).
int64_t find_non_finite(ThreadPool& pool, const float* x, int64_t count);

// y[i] = activation(y[i] + addend[i]): the extra pass the unfused branch pays.
void run_add_activation(ThreadPool& pool, float* y, const float* addend, int64_t count, int32_t activation);

}  // namespace svdq
