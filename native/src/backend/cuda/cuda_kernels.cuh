// The linear layers' kernels (one file each), launched on a stream. Every
// pointer is device memory; INT4 tensors are row-major nibbles, two per
// byte, low nibble first, with scales per row and group of 64 along K.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace svdq::cuda {

// BF16 kept as its 16 bits; widened exactly.
__device__ __forceinline__ float bf16_bits_to_float(uint16_t bits) { return __uint_as_float(static_cast<uint32_t>(bits) << 16); }

// The same tanh GELU as the CPU (core/numerics/activations.h).
__device__ __forceinline__ float gelu_tanh(float v) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * v * (1.0f + tanhf(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
}

// Activations of a W4A4 layer quantized per token and group of 64:
// q = clamp(round((x + shift) * inv_smooth * levels / absmax)), levels 7
// (signed, -8..7) or 15 (unsigned, 0..15); scales = absmax / levels. With a
// branch (down != null, BF16 [rank, k]), lowrank[m, rank] = x down^T on the
// same read of x. codes null: the branch only (the activations came quantized).
struct QuantizeActArgs {
    const float* x;
    int64_t m, k;
    const float* inv_smooth;  // [k] or null
    float shift;
    bool is_unsigned;
    const uint16_t* down;     // BF16 [rank, k] or null
    int64_t rank;
    uint8_t* codes;           // [m, k / 2]
    float* scales;            // [m, k / 64]
    float* lowrank;           // [m, rank]
};
void quantize_activations(const QuantizeActArgs& a, cudaStream_t stream);

// y [m, n] = sum over groups g of dot_g(codes, w) * act_scale * w_scale, + lowrank up^T (BF16 [n, rank]),
// + bias, then GELU (tanh) when gelu. The integer dots on tensor cores: INT4 MMA on sm_75..89, the same
// values widened to INT8 on sm_90 and newer. With next_codes, y is also quantized for the next layer
// exactly as quantize_activations would (that layer's inv_smooth, shift, signedness; n % 64 == 0).
struct GemmW4A4Args {
    const uint8_t* codes;     // [m, k / 2]
    const float* act_scales;  // [m, k / 64]
    bool act_unsigned;
    int64_t m;
    const uint8_t* w;         // [n, k / 2]
    const float* w_scales;    // [n, k / 64]
    int64_t n, k;
    const float* lowrank;     // [m, rank] or null
    const uint16_t* up;       // BF16 [n, rank]
    int64_t rank;
    const float* bias;        // [n] or null
    bool gelu;
    float* y;
    uint8_t* next_codes;             // [m, n / 2] or null
    float* next_scales;              // [m, n / 64]
    const float* next_inv_smooth;    // [n] or null
    float next_shift;
    bool next_unsigned;
};
void gemm_w4a4(const GemmW4A4Args& a, cudaStream_t stream);

// y [m, n] = x [m, k] W^T with W = q * scale, or (q + 8) * scale + zero with AWQ zero points; + bias, GELU.
struct GemmW4A16Args {
    const float* x;
    int64_t m;
    const uint8_t* w;       // [n, k / 2]
    const float* scales;    // [n, k / 64]
    const float* zeros;     // [n, k / 64] or null
    int64_t n, k;
    const float* bias;
    bool gelu;
    float* y;
};
void gemm_w4a16(const GemmW4A16Args& a, cudaStream_t stream);

// y [rows, cols] += bias per column, then GELU (tanh) when gelu; in place.
void bias_activation(float* y, int64_t rows, int64_t cols, const float* bias, bool gelu, cudaStream_t stream);
// out = BF16 of x (round to nearest even), count values.
void to_bf16(const float* x, int64_t count, uint16_t* out, cudaStream_t stream);
// *first = the smallest index of a non-finite x (unchanged when all are finite).
void find_non_finite(const float* x, int64_t count, unsigned long long* first, cudaStream_t stream);

}  // namespace svdq::cuda
