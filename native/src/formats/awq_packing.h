// The AWQ/TinyChat W4A16 qweight order Nunchaku uses for FLUX's adaLN
// modulation linears (deepcompressor/backend/tinychat/utils.py: pack_w4;
// read by Nunchaku's gemv_awq). Values are unsigned nibbles 0..15.
//
// qweight is int32 [N/4, K/2], i.e. rows of K 16-bit words, one row per 4
// output channels. In each 32-column chunk a word j (0..7) holds columns j,
// j+8, j+16, j+24 in its nibbles 0..3 (lowest first); the 16 words of a
// 64-column group of output channel 4 q + r sit at word (4 g + r) * 16 of
// row q. Scales and zeros are plain transposes, [K/64, N].
#pragma once

#include <cstdint>
#include <vector>

namespace svdq::awq {

constexpr int64_t kGroup = 64;
constexpr int64_t kRowsPerPack = 4;

// [n, k] canonical bytes (two nibbles per byte, low nibble = even column;
// n a multiple of 4, k of 64) <-> qweight bytes (little-endian int32).
std::vector<uint8_t> pack_weight(const uint8_t* canonical, int64_t n, int64_t k);
std::vector<uint8_t> unpack_weight(const uint8_t* packed, int64_t n, int64_t k);

}  // namespace svdq::awq
