#include "formats/nunchaku_packing.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace svdq::nunchaku {

namespace {

// A packed word holds 8 consecutive k of one row: 4 bytes, nibble order as in
// a canonical row, so whole words move and nibbles never need shuffling.
constexpr int64_t kWordBytes = 4;

void check_weight_shape(int64_t n, int64_t k) {
    require(n > 0 && n % kChannelBlock == 0 && k > 0 && k % kWeightTileK == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "a Nunchaku-packed 4-bit weight must have rows a multiple of " + std::to_string(kChannelBlock) +
                " and columns a multiple of " + std::to_string(kWeightTileK) + ", not [" + std::to_string(n) + ", " +
                std::to_string(k) + "]");
}

// Visits every word of a [n, k] matrix tile by tile, in the packed order:
// (row tile, k tile, n_pack 8, n_lane 8, k_lane 4, n_sub 2, k_sub 2).
template <bool Pack>
std::vector<uint8_t> move_words(const uint8_t* src, int64_t n, int64_t k) {
    check_weight_shape(n, k);
    std::vector<uint8_t> dst(static_cast<size_t>(n * k / 2));
    const int64_t row_words = k / 8, k_tiles = k / kWeightTileK;
    int64_t packed = 0;  // word index in the packed stream
    for (int64_t n_tile = 0; n_tile < n / kChannelBlock; ++n_tile)
        for (int64_t k_tile = 0; k_tile < k_tiles; ++k_tile)
            for (int64_t n_pack = 0; n_pack < 8; ++n_pack)
                for (int64_t n_lane = 0; n_lane < 8; ++n_lane)
                    for (int64_t k_lane = 0; k_lane < 4; ++k_lane)
                        for (int64_t n_sub = 0; n_sub < 2; ++n_sub)
                            for (int64_t k_sub = 0; k_sub < 2; ++k_sub, ++packed) {
                                const int64_t row = n_tile * kChannelBlock + n_pack * 16 + n_sub * 8 + n_lane;
                                const int64_t word = k_tile * 8 + k_sub * 4 + k_lane;
                                const int64_t canonical = row * row_words + word;
                                std::memcpy(dst.data() + (Pack ? packed : canonical) * kWordBytes,
                                            src + (Pack ? canonical : packed) * kWordBytes, kWordBytes);
                            }
    return dst;
}

}  // namespace

std::vector<uint8_t> pack_weight(const uint8_t* canonical, int64_t n, int64_t k) { return move_words<true>(canonical, n, k); }

std::vector<uint8_t> unpack_weight(const uint8_t* packed, int64_t n, int64_t k) { return move_words<false>(packed, n, k); }

}  // namespace svdq::nunchaku
