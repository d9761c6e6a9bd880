// The CPU kernel interface. Each op has a scalar reference (the oracle every
// SIMD version is tested against); a table per level holds the versions
// chosen at run time from CPUID. Weights are packed once per level at load
// time; activations use one level-independent format, so quantize_act
// outputs compare bit for bit across levels. Kernels work on one tile of the
// output and never allocate; cpu_ops.cpp spreads tiles over the thread pool.
#pragma once

#include <cstdint>

#include "backend/cpu/packed_weights.h"
#include "quant/int4.h"
#include "svdquant.h"

namespace svdq {

// Quantized activations: int8 values in -8..7 (kept unpacked: the GEMM
// wants bytes), one scale and one integer sum per token per 64-group.
struct QuantizedActs {
    int8_t* q;        // [m, k]
    float* scales;    // [m, k / 64]
    int32_t* sums;    // [m, k / 64], sum of q over the group
};

// Reads X [m, k] once and writes (a) Q(X / lambda) per token per 64-group
// and (b) the rank-r down-projection X * down'^T [m, r], where
// down' = down / lambda reads the raw X.
struct QuantizeActArgs {
    const float* x;
    int64_t m, k;
    const float* inv_smooth;    // [k] 1 / lambda, or nullptr
    const float* lowrank_down;  // [rank, k] already divided by lambda, or nullptr
    int64_t rank;
    QuantizedActs out;
    float* lowrank_act;         // [m, rank]
};

// Y = Q(X) Q(W)^T (int32 sum per group times both scales)
//     + lowrank_act * up^T + bias, then the activation.
struct GemmW4A4Args {
    const int8_t* qx;
    const float* sx;
    const int32_t* gx;  // group sums of qx
    int64_t m;
    const PackedWeights* w;  // from pack_w4a4, [n, k]
    const float* lowrank_act;        // [m, rank] or nullptr
    const PackedWeights* lowrank_up;  // from pack_lowrank_up, [n, rank]
    int64_t rank;
    const float* bias;  // [n] or nullptr
    int32_t activation;
    float* y;  // [m, n]
};

// Y = X W^T + bias, then the activation; W from pack_w4a16 or pack_f32.
struct GemmFloatArgs {
    const float* x;
    int64_t m;
    const PackedWeights* w;
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
    int64_t tile_rows, tile_cols;  // how cpu_ops cuts the output for threads
    PackedWeights (*pack_f32)(const float* w, int64_t n, int64_t k);
    PackedWeights (*pack_w4a16)(const Int4Matrix& w);
    PackedWeights (*pack_w4a4)(const Int4Matrix& w);
    PackedWeights (*pack_lowrank_up)(const float* up, int64_t n, int64_t rank);
    void (*quantize_act)(const QuantizeActArgs&, int64_t row_begin, int64_t row_end);
    void (*gemm_w4a4)(const GemmW4A4Args&, const Tile&);
    void (*gemm_w4a16)(const GemmFloatArgs&, const Tile&);
    void (*gemm_f32)(const GemmFloatArgs&, const Tile&);
};

// The best kernels at or below `level`.
const CpuKernels& cpu_kernels_for(svdq_cpu_level level);

// Scalar references. Their packed layouts are the canonical ones: float
// [n, k] row-major (weights and the low-rank up-projection [n, rank]), and
// Int4Matrix's bytes and scales as they are.
PackedWeights pack_f32_scalar(const float* w, int64_t n, int64_t k);
PackedWeights pack_int4_scalar(const Int4Matrix& w);
void quantize_act_scalar(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end);
void gemm_w4a4_scalar(const GemmW4A4Args& a, const Tile& t);
void gemm_w4a16_scalar(const GemmFloatArgs& a, const Tile& t);
void gemm_f32_scalar(const GemmFloatArgs& a, const Tile& t);

// AVX2 + FMA versions, compiled with those instructions enabled and called
// only when CPUID reports them.
PackedWeights pack_f32_avx2(const float* w, int64_t n, int64_t k);
PackedWeights pack_w4a16_avx2(const Int4Matrix& w);
PackedWeights pack_w4a4_avx2(const Int4Matrix& w);
PackedWeights pack_lowrank_up_avx2(const float* up, int64_t n, int64_t rank);
void quantize_act_avx2(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end);
void gemm_w4a4_avx2(const GemmW4A4Args& a, const Tile& t);
void gemm_w4a16_avx2(const GemmFloatArgs& a, const Tile& t);
void gemm_f32_avx2(const GemmFloatArgs& a, const Tile& t);

}  // namespace svdq
