// Nunchaku's W4A4 tensor order, and its inverse into the canonical layout.
//
// Nunchaku's GEMM loads each warp's operands with one 128-bit access per
// lane, so its files store weights, scales and low-rank factors already
// permuted into MMA fragment order. The order is defined by deepcompressor's
// NunchakuWeightPacker (deepcompressor/backend/nunchaku/utils.py, with
// MmaWeightPackerBase in deepcompressor/backend/utils.py; Nunchaku carries a
// copy in nunchaku/lora/flux/packer.py) and read by Nunchaku's kernels
// (src/kernels/zgemm/gemm_base.cuh: load_wgt, load_wscale). In their terms,
// with warp_n = 128, 4-bit values and 16-bit scales:
//
//  qweight [N, K/2] int8: tiles of 128 rows x 64 columns, row tile major then
//    k tile; inside a tile, the 32-bit words of 8 consecutive k (nibble i =
//    column k0 + i, low nibble first, exactly as in a canonical row) go in the
//    order (n_pack 8, n_lane 8, k_lane 4, n_sub 2, k_sub 2) where
//    n = 16 n_pack + 8 n_sub + n_lane and k = 32 k_sub + 8 k_lane.
//  wscales [K/64, N] (bf16/f16, INT4): blocks of 128 channels, block major,
//    then group, then the 128 values of the block in the order
//    (l8 8, l4 4, s2 2, e2 2) where n = 16 l8 + 8 s2 + 2 l4 + e2.
//  bias, smooth, wcscales [N or K]: the same order with one group.
//  wscales [K/16, N] (F8_E4M3, NVFP4): blocks of 128 channels, block major,
//    then runs of 4 groups (64 columns), then (c 8, b 4, a 4, j 4) where
//    n = 32 a + 8 b + c and group = 4 run + j.
//  lora_down [K, r] / lora_up [N, r] (bf16/f16): 16 x 16 tiles of the MMA B
//    operand; down as [r, K] tiled K-tile major, up as [N, r] tiled N-tile
//    major; inside a tile (n_lane 8, k_lane 4, n_sub 2, k_sub 2, pair 2) with
//    n = 8 n_sub + n_lane and k = 8 k_sub + 2 k_lane + pair (n = rank for
//    down, output channel for up).
//
// The shapes are only labels: what matters is the flat order above. Nunchaku
// pads N and K to multiples of 128 (and the rank to 16) before packing; the
// layer reader/writer (models/nunchaku_linear.h) does the padding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace svdq::nunchaku {

constexpr int64_t kChannelBlock = 128;  // N and K padding; scale/bias/smooth permutation block
constexpr int64_t kWeightTileK = 64;    // k extent of one packed weight tile
constexpr int64_t kLowRankTile = 16;    // low-rank tiles are 16 x 16; the rank pads to this
constexpr int64_t kMicroScaleRun = 4;   // NVFP4 scales travel in runs of 4 groups (64 columns)

// Flat position in wscales of group scale (n, g) of a matrix with `groups` groups per row.
inline int64_t group_scale_position(int64_t n, int64_t g, int64_t groups) {
    const int64_t block = n / kChannelBlock, r = n % kChannelBlock;
    const int64_t l8 = r / 16, s2 = (r / 8) % 2, l4 = (r / 2) % 4, e2 = r % 2;
    return (block * groups + g) * kChannelBlock + l8 * 16 + l4 * 4 + s2 * 2 + e2;
}

// Flat position of per-channel value n (bias, smooth, wcscales).
inline int64_t channel_position(int64_t n) { return group_scale_position(n, 0, 1); }

// Flat position in NVFP4 wscales of micro scale (n, g); groups is a multiple of 4.
inline int64_t micro_scale_position(int64_t n, int64_t g, int64_t groups) {
    const int64_t block = n / kChannelBlock, r = n % kChannelBlock;
    const int64_t a = r / 32, b = (r / 8) % 4, c = r % 8;
    const int64_t run = g / kMicroScaleRun, j = g % kMicroScaleRun;
    return ((((block * (groups / kMicroScaleRun) + run) * 8 + c) * 4 + b) * 4 + a) * kMicroScaleRun + j;
}

// Position inside one 16 x 16 low-rank tile of element (n, k) of the tile.
inline int64_t lowrank_tile_position(int64_t n, int64_t k) {
    const int64_t n_lane = n % 8, n_sub = n / 8;
    const int64_t pair = k % 2, k_lane = (k / 2) % 4, k_sub = k / 8;
    return (((n_lane * 4 + k_lane) * 2 + n_sub) * 2 + k_sub) * 2 + pair;
}

// Flat position in lora_down of element (i, k) of the canonical down [rank, K].
inline int64_t lowrank_down_position(int64_t i, int64_t k, int64_t rank) {
    const int64_t tile = (k / kLowRankTile) * (rank / kLowRankTile) + i / kLowRankTile;
    return tile * kLowRankTile * kLowRankTile + lowrank_tile_position(i % kLowRankTile, k % kLowRankTile);
}

// Flat position in lora_up of element (n, i) of the canonical up [N, rank].
inline int64_t lowrank_up_position(int64_t n, int64_t i, int64_t rank) {
    const int64_t tile = (n / kLowRankTile) * (rank / kLowRankTile) + i / kLowRankTile;
    return tile * kLowRankTile * kLowRankTile + lowrank_tile_position(n % kLowRankTile, i % kLowRankTile);
}

// Element (r, c) of a canonical row-major [rows, cols] matrix moves to
// position(r, c); scatter packs, gather unpacks.
template <class T, class Position>
std::vector<T> scatter(const T* canonical, int64_t rows, int64_t cols, Position position) {
    std::vector<T> packed(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) packed[static_cast<size_t>(position(r, c))] = canonical[r * cols + c];
    return packed;
}

template <class T, class Position>
std::vector<T> gather(const T* packed, int64_t rows, int64_t cols, Position position) {
    std::vector<T> canonical(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) canonical[static_cast<size_t>(r * cols + c)] = packed[position(r, c)];
    return canonical;
}

// 4-bit weights [n, k] (n a multiple of 128, k of 64), canonical bytes (two
// nibbles per byte, low nibble = even column) <-> Nunchaku's qweight bytes.
// INT4 values and NVFP4 E2M1 codes pack alike.
std::vector<uint8_t> pack_weight(const uint8_t* canonical, int64_t n, int64_t k);
std::vector<uint8_t> unpack_weight(const uint8_t* packed, int64_t n, int64_t k);

}  // namespace svdq::nunchaku
