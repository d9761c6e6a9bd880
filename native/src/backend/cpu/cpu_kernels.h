// The CPU kernel interface. Each op has a scalar reference (the oracle every
// SIMD version is tested against); a table per level holds the versions
// chosen at run time from CPUID. Kernels work on one tile of the output and
// never allocate; cpu_ops.cpp splits work into tiles across the thread pool.
#pragma once

#include <cstdint>

#include "svdquant.h"

namespace svdq {

// Reads X [m, k] once and writes (a) Q(X / lambda): INT4 in the canonical
// layout with per-token per-64 scales and (b) the rank-r down-projection
// X * down'^T [m, r], where down' = down / lambda reads the raw X.
struct QuantizeActArgs {
    const float* x;
    int64_t m, k;
    const float* inv_smooth;    // [k] 1 / lambda, or nullptr
    const float* lowrank_down;  // [rank, k] already divided by lambda, or nullptr
    int64_t rank;
    uint8_t* q;                 // [m, k / 2]
    float* scales;              // [m, k / 64]
    float* lowrank_act;         // [m, rank]
};

// Y = Q(X) Q(W)^T (int32 sum per group times both scales)
//     + lowrank_act * up^T + bias, then the activation.
struct GemmW4A4Args {
    const uint8_t* qx;
    const float* sx;
    int64_t m;
    const uint8_t* qw;  // [n, k / 2]
    const float* sw;    // [n, k / 64]
    int64_t n, k;
    const float* lowrank_act;  // [m, rank] or nullptr
    const float* lowrank_up;   // [n, rank]
    int64_t rank;
    const float* bias;  // [n] or nullptr
    int32_t activation;
    float* y;  // [m, n]
};

// Y = X dequant(W)^T + bias, then the activation.
struct GemmW4A16Args {
    const float* x;
    int64_t m;
    const uint8_t* qw;
    const float* sw;
    int64_t n, k;
    const float* bias;
    int32_t activation;
    float* y;
};

// Y = X W^T + bias, then the activation.
struct GemmF32Args {
    const float* x;
    int64_t m;
    const float* w;  // [n, k]
    int64_t n, k;
    const float* bias;
    int32_t activation;
    float* y;
};

// Output rows [m0, m1) and columns [n0, n1).
struct Tile {
    int64_t m0, m1, n0, n1;
};

struct CpuKernels {
    svdq_cpu_level level;
    void (*quantize_act)(const QuantizeActArgs&, int64_t row_begin, int64_t row_end);
    void (*gemm_w4a4)(const GemmW4A4Args&, const Tile&);
    void (*gemm_w4a16)(const GemmW4A16Args&, const Tile&);
    void (*gemm_f32)(const GemmF32Args&, const Tile&);
};

// The best kernels at or below `level`.
const CpuKernels& cpu_kernels_for(svdq_cpu_level level);

// Scalar references.
void quantize_act_scalar(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end);
void gemm_w4a4_scalar(const GemmW4A4Args& a, const Tile& t);
void gemm_w4a16_scalar(const GemmW4A16Args& a, const Tile& t);
void gemm_f32_scalar(const GemmF32Args& a, const Tile& t);

}  // namespace svdq
