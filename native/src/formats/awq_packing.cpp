#include "formats/awq_packing.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace svdq::awq {

namespace {

void check_shape(int64_t n, int64_t k) {
    require(n > 0 && n % kRowsPerPack == 0 && k > 0 && k % kGroup == 0, SVDQ_ERROR_SHAPE_MISMATCH,
            "an AWQ-packed weight must have rows a multiple of 4 and columns a multiple of 64, not [" +
                std::to_string(n) + ", " + std::to_string(k) + "]");
}

// In each 32-column chunk, 16-bit word j holds columns j, j + 8, j + 16,
// j + 24 in nibbles 0..3, so canonical byte b (columns 2b, 2b + 1) draws
// from words 2b % 8 and (2b + 1) % 8.
constexpr int64_t kChunk = 32;

inline int word_nibble(uint16_t word, int64_t nibble) { return (word >> (4 * nibble)) & 0xF; }

// Calls move(canonical chunk, packed chunk) for every 32-column chunk of
// every row: 16 canonical bytes and 8 packed 16-bit words.
template <class Move>
void for_each_chunk(int64_t n, int64_t k, Move move) {
    for (int64_t q = 0; q < n / kRowsPerPack; ++q)
        for (int64_t r = 0; r < kRowsPerPack; ++r)
            for (int64_t g = 0; g < k / kGroup; ++g)
                for (int64_t half = 0; half < kGroup / kChunk; ++half) {
                    const int64_t row = q * kRowsPerPack + r, column = g * kGroup + half * kChunk;
                    const int64_t word = q * k + (g * kRowsPerPack + r) * 16 + half * 8;  // 16-bit words
                    move(row * (k / 2) + column / 2, word * 2);
                }
}

}  // namespace

std::vector<uint8_t> pack_weight(const uint8_t* canonical, int64_t n, int64_t k) {
    check_shape(n, k);
    std::vector<uint8_t> packed(static_cast<size_t>(n * k / 2));
    for_each_chunk(n, k, [&](int64_t from, int64_t to) {
        for (int64_t j = 0; j < 8; ++j) {
            uint16_t word = 0;
            for (int64_t nibble = 0; nibble < 4; ++nibble) {
                const int64_t column = j + 8 * nibble;
                word = static_cast<uint16_t>(word | (((canonical[from + column / 2] >> ((column & 1) * 4)) & 0xF) << (4 * nibble)));
            }
            std::memcpy(packed.data() + to + 2 * j, &word, 2);
        }
    });
    return packed;
}

std::vector<uint8_t> unpack_weight(const uint8_t* packed, int64_t n, int64_t k) {
    check_shape(n, k);
    std::vector<uint8_t> canonical(static_cast<size_t>(n * k / 2));
    for_each_chunk(n, k, [&](int64_t to, int64_t from) {
        uint16_t words[8];
        std::memcpy(words, packed + from, sizeof words);
        for (int64_t b = 0; b < kChunk / 2; ++b) {
            const int64_t lo = 2 * b, hi = 2 * b + 1;
            canonical[static_cast<size_t>(to + b)] =
                static_cast<uint8_t>(word_nibble(words[lo % 8], lo / 8) | (word_nibble(words[hi % 8], hi / 8) << 4));
        }
    });
    return canonical;
}

}  // namespace svdq::awq
