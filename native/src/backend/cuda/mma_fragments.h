// Which matrix element each lane of a warp holds in the integer tensor-core
// MMA fragments the W4A4 GEMM uses (PTX ISA, "Matrix fragments for
// mma.m16n8k64 / m16n8k32 / m8n8k32"), and the loads that gather a lane's
// registers from INT4 tiles in shared memory. Host and device code alike, so
// the layout logic is tested on the host (test_mma_fragments.cpp) without a GPU.
//
// Tiles are row-major nibbles, two per byte, low nibble first (the engine's
// INT4 order): A is [16 rows (tokens)][64 k], B is [8 rows (outputs)][64 k],
// i.e. the MMA's column-major B. A register holds its elements in order from
// bit 0: for s4, element i in bits 4i..4i+3; for s8, byte i.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SVDQ_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SVDQ_HOST_DEVICE inline
#endif

namespace svdq::cuda::mma {

struct Element {
    int row, col;  // A: (m, k); B: (k, n); C: (m, n)
};

SVDQ_HOST_DEVICE int group_id(int lane) { return lane >> 2; }
SVDQ_HOST_DEVICE int thread_in_group(int lane) { return lane & 3; }

// m16n8k64, .s4: A in 4 registers of 8 nibbles, B in 2, C in 4 int32.
SVDQ_HOST_DEVICE Element a_m16n8k64(int lane, int reg, int nibble) {
    return {group_id(lane) + 8 * (reg & 1), thread_in_group(lane) * 8 + 32 * (reg >> 1) + nibble};
}
SVDQ_HOST_DEVICE Element b_m16n8k64(int lane, int reg, int nibble) {
    return {thread_in_group(lane) * 8 + 32 * reg + nibble, group_id(lane)};
}
// The accumulators of every m16n8 shape.
SVDQ_HOST_DEVICE Element c_m16n8(int lane, int i) {
    return {group_id(lane) + 8 * (i >> 1), thread_in_group(lane) * 2 + (i & 1)};
}

// m16n8k32, .s8 (Hopper's path: the INT4 values widened to bytes).
SVDQ_HOST_DEVICE Element a_m16n8k32(int lane, int reg, int byte) {
    return {group_id(lane) + 8 * (reg & 1), thread_in_group(lane) * 4 + 16 * (reg >> 1) + byte};
}
SVDQ_HOST_DEVICE Element b_m16n8k32(int lane, int reg, int byte) {
    return {thread_in_group(lane) * 4 + 16 * reg + byte, group_id(lane)};
}

// m8n8k32, .s4 (Turing): A and B in one register of 8 nibbles, C in 2 int32.
SVDQ_HOST_DEVICE Element a_m8n8k32(int lane, int nibble) { return {group_id(lane), thread_in_group(lane) * 8 + nibble}; }
SVDQ_HOST_DEVICE Element b_m8n8k32(int lane, int nibble) { return {thread_in_group(lane) * 8 + nibble, group_id(lane)}; }
SVDQ_HOST_DEVICE Element c_m8n8(int lane, int i) { return {group_id(lane), thread_in_group(lane) * 2 + i}; }

// Four bytes of a tile. Fragment runs start at a multiple of 8 nibbles, so the address is 4-byte aligned
// whenever the tile and its row stride are.
SVDQ_HOST_DEVICE uint32_t load_u32(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
    return *reinterpret_cast<const uint32_t*>(p);
#else
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
#endif
}

// Eight consecutive nibbles (row, col .. col + 7) of a row-major INT4 tile; col is a multiple of 8.
SVDQ_HOST_DEVICE uint32_t nibbles8(const uint8_t* tile, int stride_bytes, Element first) {
    return load_u32(tile + first.row * stride_bytes + first.col / 2);
}

// Four nibbles (col a multiple of 4) widened to four bytes, element i in byte i: sign-extended
// (s4 to s8), or zero-extended for unsigned activations (u4 to u8).
SVDQ_HOST_DEVICE uint32_t widened4(const uint8_t* tile, int stride_bytes, Element first, bool is_signed) {
    const uint8_t* p = tile + first.row * stride_bytes + first.col / 2;
    const uint32_t nibbles = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
    uint32_t out = 0;
    for (int i = 0; i < 4; ++i) {
        const int v = static_cast<int>((nibbles >> (4 * i)) & 0xF);
        out |= static_cast<uint32_t>(static_cast<uint8_t>(is_signed ? (v ^ 8) - 8 : v)) << (8 * i);
    }
    return out;
}

// One lane's registers for a 16x8x64 product of tile A [16][64] and B [8][64].
struct Fragments_m16n8k64 {
    uint32_t a[4], b[2];
};
SVDQ_HOST_DEVICE Fragments_m16n8k64 load_m16n8k64(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride, int lane) {
    Fragments_m16n8k64 f;
    for (int r = 0; r < 4; ++r) f.a[r] = nibbles8(a, a_stride, a_m16n8k64(lane, r, 0));
    for (int r = 0; r < 2; ++r) {
        const Element e = b_m16n8k64(lane, r, 0);  // B's (k, n) is the tile's (row n, col k)
        f.b[r] = nibbles8(b, b_stride, {e.col, e.row});
    }
    return f;
}

// The same product as two k32 halves of widened bytes (step 0: k 0..31, step 1: k 32..63).
struct Fragments_m16n8k32 {
    uint32_t a[4], b[2];
};
SVDQ_HOST_DEVICE Fragments_m16n8k32 load_m16n8k32_widened(const uint8_t* a, int a_stride, bool a_signed, const uint8_t* b,
                                                         int b_stride, int lane, int step) {
    Fragments_m16n8k32 f;
    for (int r = 0; r < 4; ++r) {
        const Element e = a_m16n8k32(lane, r, 0);
        f.a[r] = widened4(a, a_stride, {e.row, e.col + 32 * step}, a_signed);
    }
    for (int r = 0; r < 2; ++r) {
        const Element e = b_m16n8k32(lane, r, 0);
        f.b[r] = widened4(b, b_stride, {e.col, e.row + 32 * step}, true);
    }
    return f;
}

// The 16x8x64 product as m8n8k32 pieces: A rows half * 8 .. + 7, k step * 32 .. + 31.
struct Fragments_m8n8k32 {
    uint32_t a, b;
};
SVDQ_HOST_DEVICE Fragments_m8n8k32 load_m8n8k32(const uint8_t* a, int a_stride, const uint8_t* b, int b_stride, int lane, int half,
                                               int step) {
    const Element ea = a_m8n8k32(lane, 0), eb = b_m8n8k32(lane, 0);
    return {nibbles8(a, a_stride, {ea.row + 8 * half, ea.col + 32 * step}), nibbles8(b, b_stride, {eb.col, eb.row + 32 * step})};
}

}  // namespace svdq::cuda::mma

namespace svdq::cuda::mma {

// Adds an m8n8 accumulator (rows half * 8 ..) into the lane's m16n8 accumulator: c_m8n8(lane, i) of
// half h is c_m16n8(lane, 2 h + i).
SVDQ_HOST_DEVICE void add_m8n8(int32_t c16[4], const int32_t c8[2], int half) {
    c16[2 * half] += c8[0];
    c16[2 * half + 1] += c8[1];
}

}  // namespace svdq::cuda::mma
