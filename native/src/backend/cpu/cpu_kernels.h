// The CPU kernel interface. Each op has a scalar reference (the oracle every
// SIMD version is tested against); a table per level holds the versions
// chosen at run time from CPUID. Weights are packed once per level at load
// time; activations use one level-independent format, so quantize_act
// outputs compare bit for bit across levels. Kernels work on one tile of the
// output and never allocate: a kernel that needs working memory states how
// many floats per thread (its *_scratch entry) and gets them as `scratch`,
// from the thread pool's per-thread buffers. cpu_ops.cpp spreads tiles over
// the pool.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/cpu/packed_weights.h"
#include "core/numerics/int4.h"
#include "svdquant.h"

namespace svdq {

// Quantized activations: 4-bit levels kept unpacked as int8 (the GEMM wants
// bytes), -8..7 or, for an unsigned ActEncoding, 0..15; one scale and one
// integer sum per token per 64-group.
struct QuantizedActs {
    int8_t* q;        // [m, k]
    float* scales;    // [m, k / 64]
    int32_t* sums;    // [m, k / 64], sum of q over the group
};

// How quantize_act maps X to levels: u = (X + shift) * (1 / lambda), L = 7
// (signed, q in -8..7) or 15 (unsigned, q in 0..15), per 64-group
// q = clamp(round_half_even(u * (L / absmax|u|)), ...), scale = absmax / L
// (all-zero group: q = 0, scale 0). Unsigned with a shift is Nunchaku's INT4
// mlp_fc2 input: the GELU output moved to >= 0 (nunchaku::kGeluShift).
struct ActEncoding {
    float shift = 0.0f;
    bool is_unsigned = false;
};

// Reads X [m, k] once and writes (a) Q((X + shift) / lambda) per token per
// 64-group and (b) the rank-r down-projection X * down'^T [m, r] of the raw,
// unshifted X, where down' = down / lambda, kept in BF16 like the checkpoint's
// branch (half the memory; widened as it is loaded).
struct QuantizeActArgs {
    const float* x;
    int64_t m, k;
    const float* inv_smooth;    // [k] 1 / lambda, or nullptr
    const uint16_t* lowrank_down;  // BF16 [rank, k] already divided by lambda (pack_lowrank_down), or nullptr
    int64_t rank;
    QuantizedActs out;
    float* lowrank_act;         // [m, rank]
    ActEncoding encoding = {};
    // Row strides where X is a column slice of a wider matrix (the fused
    // MLP's quantize stage): of x, of lowrank_down's rows, and the full width
    // of out's rows (q: out_width, scales and sums: out_width / 64); 0: k.
    int64_t x_stride = 0, down_stride = 0, out_width = 0;

    const float* x_row(int64_t row) const { return x + row * (x_stride ? x_stride : k); }
    // lowrank_down's rank r (rows layout) or column j (k-major layout).
    const uint16_t* down_row(int64_t r) const { return lowrank_down + r * (down_stride ? down_stride : k); }
    const uint16_t* down_column(int64_t j) const { return lowrank_down + j * rank; }
    int8_t* q_row(int64_t row) const { return out.q + row * (out_width ? out_width : k); }
    float* scales_row(int64_t row) const { return out.scales + row * ((out_width ? out_width : k) / 64); }
    int32_t* sums_row(int64_t row) const { return out.sums + row * ((out_width ? out_width : k) / 64); }
};

// A stage on whole heads after a tile's last K block (cpu_ops.cpp runs it,
// cutting the output into tiles of whole heads): y = [q | k | v], q and k
// `width` columns each; every head_dim slice of q is RMS-normalised times
// q_weight, of k times k_weight, then both are rotated by RoPE with row i of
// cos and sin (head_rows.h: the bits of rms_norm_heads and rope).
struct HeadStage {
    int64_t head_dim, width;
    const float* q_weight;  // [head_dim]
    const float* k_weight;
    float eps;
    const float* cos;  // rows of rope_stride, one per row of y
    const float* sin;
    int64_t rope_stride;
};

// fc1's stage in the fused MLP, after a tile's last K block (cpu_ops.cpp
// runs it, cutting the output into tiles of whole 64-groups): the tile of y
// (bias and activation applied) is quantized for the next layer by the
// level's quantize_act on that column slice, so q, scales and sums are those
// of quantize_act on the whole y; the slice's share of the next layer's
// down-projection goes to its column tile's slot of `partials`
// [column tiles, m, rank], summed over the slots in column order into
// lowrank_act once every tile is done (independent of threads). Each tile
// is also checked for non-finite values while it is in cache: the smallest
// flat index into y of one is kept in first_non_finite (independent of
// threads too), since a NaN need not show in the scales.
struct QuantizeStage {
    const float* inv_smooth;       // [n] 1 / lambda, or nullptr
    const uint16_t* lowrank_down;  // BF16 [rank, n] divided by lambda (pack_lowrank_down), or nullptr
    int64_t rank;
    ActEncoding encoding;
    QuantizedActs out;  // [m, n]
    float* partials;
    float* lowrank_act;  // [m, rank]
    std::atomic<int64_t>* first_non_finite;  // starts at m * n: none
};

// The chain every GEMM applies, per lane, to each finished output value v of
// row i, column j, in this order: v += bias[j]; v = activation(v);
// v += addend[i, j]; then y[i, j] = v, or, with a residual,
// residual[i, j] += gate[j] * v (a product, then a sum: the same float
// operations as the unfused gated add) and y is not written (it only holds
// partial sums between K blocks). Absent stages (nullptr) are skipped.
struct Epilogue {
    const float* bias = nullptr;  // [n]
    int32_t activation = SVDQ_ACTIVATION_NONE;
    const float* addend = nullptr;  // rows of addend_stride
    int64_t addend_stride = 0;
    const float* gate = nullptr;  // [n], with residual
    float* residual = nullptr;    // rows of residual_stride
    int64_t residual_stride = 0;
    const HeadStage* heads = nullptr;  // then, per tile, without a residual
    const QuantizeStage* quantize = nullptr;  // or this one, W4A4 only
};

// Y = Q(X) Q(W)^T (int32 sum per group times both scales)
//     + lowrank_act * up^T, then the epilogue.
struct GemmW4A4Args {
    const int8_t* qx;
    const float* sx;
    const int32_t* gx;  // group sums of qx
    int64_t m;
    const PackedWeights* w;  // from pack_w4a4, [n, k]
    const float* lowrank_act;        // [m, rank] or nullptr
    const PackedWeights* lowrank_up;  // from pack_lowrank_up, BF16 [n, rank]
    int64_t rank;
    float* y;  // [m, n]
    Epilogue epilogue;
};

// Y = X W^T, then the epilogue; W from pack_w4a16, pack_bf16 or
// pack_f32 (each with its own gemm).
// pack_w4a16 takes INT4 weights and optional AWQ zero points [n, k/64] in
// the layout of the scales: with them a weight is (q + 8) * scale + zero
// (q + 8 is the unsigned nibble 0..15 AWQ stores), without them q * scale.
struct GemmFloatArgs {
    const float* x;
    int64_t m;
    const PackedWeights* w;
    float* y;
    Epilogue epilogue;
    const void* prepared = nullptr;  // W4A16: x as prepare_w4a16 left it, where the level has one
};

// Output rows [m0, m1) and columns [n0, n1).
struct Tile {
    int64_t m0, m1, n0, n1;
};

// Multi-head attention softmax(scale q k^T + bias) v; q and out are
// [queries, heads, head_dim] row-major, k and v [keys, heads, head_dim].
// FLUX's is plain (scale 1 / sqrt(head_dim), nothing added); the text
// encoders' adds a bias per head and query (T5's relative positions), a
// bias per key (a padding mask) and a causal mask (CLIP), each optional.
struct AttentionArgs {
    const float* q;
    const float* k;
    const float* v;
    int64_t queries, keys, heads, head_dim;
    float* out;
    float scale;
    const float* bias = nullptr;  // query i of head h: row h * queries + i, bias_stride apart; one column per key
    int64_t bias_stride = 0;
    const float* key_bias = nullptr;  // [keys]
    bool causal = false;              // query i sees keys 0..i only

    bool biased() const { return bias != nullptr || key_bias != nullptr || causal; }
};

// One head's queries [q0, q1) against every key.
struct AttentionTile {
    int64_t head, q0, q1;
};

struct CpuKernels {
    svdq_cpu_level level;
    int64_t tile_rows, tile_cols;  // how cpu_ops cuts the output for threads
    PackedWeights (*pack_f32)(const float* w, int64_t n, int64_t k);
    PackedWeights (*pack_bf16)(const float* w, int64_t n, int64_t k);  // w's values rounded to BF16
    PackedWeights (*pack_w4a16)(const Int4Matrix& w, const float* zeros);
    PackedWeights (*pack_w4a4)(const Int4Matrix& w);
    // The W4A4 kernel's layout of the branch's up-projection [n, rank], BF16:
    // panels of this many columns, [n/width][rank][width], zero padded
    // (width 1: row-major). pack_lowrank_up and unpack_lowrank_up use it.
    int64_t lowrank_up_width;
    // The quantize_act kernel's layout of the branch's down-projection
    // [rank, k], BF16: k-major [k][rank] (lanes over ranks) or rows [rank][k].
    // pack_lowrank_down and unpack_lowrank_down use it.
    bool lowrank_down_k_major;
    void (*quantize_act)(const QuantizeActArgs&, int64_t row_begin, int64_t row_end, float* scratch);
    size_t (*quantize_act_scratch)(const QuantizeActArgs&);
    void (*gemm_w4a4)(const GemmW4A4Args&, const Tile&);
    void (*gemm_w4a16)(const GemmFloatArgs&, const Tile&, float* scratch);
    size_t (*gemm_w4a16_scratch)(const GemmFloatArgs&);
    // W4A16's one pass over x per GEMM (rows [m0, m1) into a buffer of
    // prepare_w4a16_bytes shared by every tile), or nullptr where the
    // kernel reads x itself.
    void (*prepare_w4a16)(const GemmFloatArgs&, int64_t m0, int64_t m1, void* prepared);
    size_t (*prepare_w4a16_bytes)(const GemmFloatArgs&);
    void (*gemm_f32)(const GemmFloatArgs&, const Tile&);
    void (*gemm_bf16)(const GemmFloatArgs&, const Tile&, float* scratch);
    size_t (*gemm_bf16_scratch)(const GemmFloatArgs&);
    int64_t attention_queries;  // queries per attention tile
    void (*attention)(const AttentionArgs&, const AttentionTile&, float* scratch);
    size_t (*attention_scratch)(const AttentionArgs&);
    // AttentionPrecision::Bf16: q, k, v and the probabilities rounded to BF16
    // for BF16 dot products, fp32 softmax and sums; levels without them
    // repeat the fp32 kernel. Plain attention only (not biased()): the text
    // encoders' runs in fp32.
    void (*attention_bf16)(const AttentionArgs&, const AttentionTile&, float* scratch);
    size_t (*attention_bf16_scratch)(const AttentionArgs&);
};

// The best kernels at or below `level`.
const CpuKernels& cpu_kernels_for(svdq_cpu_level level);

// The branch's up-projection [n, rank] in the layout of `kernels`, and back
// (exact: the values are BF16 already when they come back).
PackedWeights pack_lowrank_up(const CpuKernels& kernels, const float* up, int64_t n, int64_t rank);
std::vector<float> unpack_lowrank_up(const CpuKernels& kernels, const PackedWeights& packed, int64_t n, int64_t rank);
// The down-projection, BF16 [rank, k] row-major, in the layout of `kernels`,
// and back.
std::vector<uint16_t> pack_lowrank_down(const CpuKernels& kernels, std::vector<uint16_t> down, int64_t rank, int64_t k);
std::vector<uint16_t> unpack_lowrank_down(const CpuKernels& kernels, const std::vector<uint16_t>& packed, int64_t rank, int64_t k);
// The packed down-projection from input column j0 on (the fused MLP's
// quantize stage reads column slices; rows layout: with its row stride).
const uint16_t* lowrank_down_from(const CpuKernels& kernels, const uint16_t* packed, int64_t rank, int64_t j0);

// Scalar references. Their packed layouts are the canonical ones: float
// [n, k] row-major, the low-rank up-projection BF16 [n, rank] row-major, and
// Int4Matrix's bytes and (BF16) scales as they are.
PackedWeights pack_f32_scalar(const float* w, int64_t n, int64_t k);
PackedWeights pack_bf16_scalar(const float* w, int64_t n, int64_t k);
PackedWeights pack_int4_scalar(const Int4Matrix& w);
PackedWeights pack_w4a16_scalar(const Int4Matrix& w, const float* zeros);  // pack_int4_scalar + zeros as given
void quantize_act_scalar(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* scratch);
void gemm_w4a4_scalar(const GemmW4A4Args& a, const Tile& t);
void gemm_w4a16_scalar(const GemmFloatArgs& a, const Tile& t, float* scratch);
size_t gemm_w4a16_scalar_scratch(const GemmFloatArgs& a);
void gemm_f32_scalar(const GemmFloatArgs& a, const Tile& t);
void gemm_bf16_scalar(const GemmFloatArgs& a, const Tile& t, float* scratch);
void attention_scalar(const AttentionArgs& a, const AttentionTile& t, float* scratch);
size_t attention_scalar_scratch(const AttentionArgs& a);

// AVX2 + FMA versions, compiled with those instructions enabled and called
// only when CPUID reports them.
PackedWeights pack_f32_avx2(const float* w, int64_t n, int64_t k);
PackedWeights pack_bf16_avx2(const float* w, int64_t n, int64_t k);
PackedWeights pack_w4a16_avx2(const Int4Matrix& w, const float* zeros);
PackedWeights pack_w4a4_avx2(const Int4Matrix& w);
void quantize_act_avx2(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* scratch);
size_t quantize_act_avx2_scratch(const QuantizeActArgs& a);
void gemm_w4a4_avx2(const GemmW4A4Args& a, const Tile& t);
void gemm_w4a16_avx2(const GemmFloatArgs& a, const Tile& t, float* scratch);
void gemm_f32_avx2(const GemmFloatArgs& a, const Tile& t);
void gemm_bf16_avx2(const GemmFloatArgs& a, const Tile& t, float* scratch);
size_t gemm_widened_avx2_scratch(const GemmFloatArgs& a);  // gemm_w4a16_avx2's and gemm_bf16_avx2's
void attention_avx2(const AttentionArgs& a, const AttentionTile& t, float* scratch);
size_t attention_avx2_scratch(const AttentionArgs& a);

// AVX-512 (F, BW, VL, VNNI) versions, on the AVX2 levels' packed layouts
// except W4A4's. attention_avx512 gives attention_avx2's results bit for bit.
PackedWeights pack_w4a4_avx512(const Int4Matrix& w);
void quantize_act_avx512(const QuantizeActArgs& a, int64_t row_begin, int64_t row_end, float* scratch);
void gemm_w4a4_avx512(const GemmW4A4Args& a, const Tile& t);
void gemm_f32_avx512(const GemmFloatArgs& a, const Tile& t);
void gemm_w4a16_avx512(const GemmFloatArgs& a, const Tile& t, float* scratch);  // gemm_widened_avx2_scratch
void gemm_bf16_avx512(const GemmFloatArgs& a, const Tile& t, float* scratch);   // gemm_widened_avx2_scratch
void attention_avx512(const AttentionArgs& a, const AttentionTile& t, float* scratch);
size_t attention_avx512_scratch(const AttentionArgs& a);

// AVX512_BF16 versions (the avx512_bf16 level): BF16 dot products on X
// rounded to BF16, accumulating in fp32; the weights' values stay exact.
void gemm_w4a16_avx512bf16(const GemmFloatArgs& a, const Tile& t, float* scratch);  // a.prepared required
size_t gemm_w4a16_avx512bf16_scratch(const GemmFloatArgs& a);
void prepare_w4a16_avx512bf16(const GemmFloatArgs& a, int64_t m0, int64_t m1, void* prepared);
size_t prepare_w4a16_avx512bf16_bytes(const GemmFloatArgs& a);
// Attention with Q, K, V and P rounded to BF16, fp32 softmax and sums.
void attention_avx512bf16(const AttentionArgs& a, const AttentionTile& t, float* scratch);
size_t attention_avx512bf16_scratch(const AttentionArgs& a);

}  // namespace svdq
