// The engine's Nunchaku index formulas against an independent replay of
// deepcompressor's packer (nunchaku_reference_packer.h) and against the
// examples printed in its source comments.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "core/error.h"
#include "nunchaku_reference_packer.h"
#include "formats/awq_packing.h"
#include "formats/nunchaku_packing.h"

namespace {

using namespace svdq;
using namespace svdq::test;

template <class T>
std::vector<T> random_values(size_t count, int lo, int hi, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> dist(lo, hi);
    std::vector<T> v(count);
    for (T& x : v) x = static_cast<T>(dist(rng));
    return v;
}

// Canonical bytes: two nibbles per byte, low nibble = even column.
std::vector<uint8_t> canonical_nibbles(const std::vector<int32_t>& q) {
    std::vector<uint8_t> bytes(q.size() / 2);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>((q[2 * i] & 0xF) | ((q[2 * i + 1] & 0xF) << 4));
    return bytes;
}

// scatter (pack) of `canonical` gives `reference`, and gather (unpack) gives it back.
template <class T, class Position>
void expect_packs_like(const std::vector<T>& canonical, int64_t rows, int64_t cols, Position position,
                       const std::vector<T>& reference) {
    EXPECT_EQ(nunchaku::scatter(canonical.data(), rows, cols, position), reference);
    EXPECT_EQ(nunchaku::gather(reference.data(), rows, cols, position), canonical);
}

TEST(NunchakuPacking, WeightMatchesDeepcompressorPackWeight) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{128, 128}, {256, 384}, {384, 64}}) {
        const std::vector<int32_t> q = random_values<int32_t>(static_cast<size_t>(n * k), -8, 7, 1 + n + k);
        const std::vector<uint8_t> canonical = canonical_nibbles(q);
        const std::vector<uint8_t> reference = ref_pack_weight(q, n, k);

        EXPECT_EQ(nunchaku::pack_weight(canonical.data(), n, k), reference) << n << "x" << k;
        EXPECT_EQ(nunchaku::unpack_weight(reference.data(), n, k), canonical) << n << "x" << k;
    }
}

TEST(NunchakuPacking, WeightRejectsShapesOffTheTileGrid) {
    const std::vector<uint8_t> bytes(100 * 64 / 2);
    EXPECT_THROW(nunchaku::pack_weight(bytes.data(), 100, 64), Error);
    EXPECT_THROW(nunchaku::unpack_weight(bytes.data(), 128, 32), Error);
}

TEST(NunchakuPacking, GroupScalesMatchPackScale) {
    const int64_t n = 256, groups = 6;
    const auto s = random_values<uint16_t>(static_cast<size_t>(n * groups), 0, 65535, 7);
    const auto position = [&](int64_t r, int64_t g) { return nunchaku::group_scale_position(r, g, groups); };
    expect_packs_like(s, n, groups, position, ref_pack_scale(s, n, groups));
}

TEST(NunchakuPacking, ChannelVectorsMatchPackScaleWithOneGroup) {
    const int64_t n = 384;
    const auto v = random_values<uint16_t>(static_cast<size_t>(n), 0, 65535, 8);
    const auto position = [](int64_t, int64_t c) { return nunchaku::channel_position(c); };
    expect_packs_like(v, 1, n, position, ref_pack_scale(v, n, 1));
}

// deepcompressor's comment on pack_scale: "wscales store order: 0 1 8 9 <-- lane 0,
// 2 3 10 11 <-- lane 1, ..., 16 17 24 25 <-- lane 4, ..., 118 119 126 127 <-- lane 31".
TEST(NunchakuPacking, ChannelOrderIsThePublishedLaneTable) {
    std::vector<int64_t> stored(128);
    for (int64_t c = 0; c < 128; ++c) stored[static_cast<size_t>(nunchaku::channel_position(c))] = c;

    EXPECT_EQ(std::vector<int64_t>(stored.begin(), stored.begin() + 8), (std::vector<int64_t>{0, 1, 8, 9, 2, 3, 10, 11}));
    EXPECT_EQ(std::vector<int64_t>(stored.begin() + 16, stored.begin() + 20), (std::vector<int64_t>{16, 17, 24, 25}));
    EXPECT_EQ(std::vector<int64_t>(stored.end() - 4, stored.end()), (std::vector<int64_t>{118, 119, 126, 127}));
}

TEST(NunchakuPacking, MicroScalesMatchPackMicroScale) {
    const int64_t n = 256, groups = 16;
    const auto s = random_values<uint8_t>(static_cast<size_t>(n * groups), 0, 255, 9);
    const auto position = [&](int64_t r, int64_t g) { return nunchaku::micro_scale_position(r, g, groups); };
    expect_packs_like(s, n, groups, position, ref_pack_micro_scale(s, n, groups));
}

// pack_micro_scale's comment: lane 0 loads channels 0 32 64 96, lane 1 8 40 72 104,
// lane 4 1 33 65 97; each channel brings its 4 FP8 scales of one 64-column run.
TEST(NunchakuPacking, MicroScaleOrderIsThePublishedLaneTable) {
    const int64_t groups = 4;
    const auto lane_channels = [&](int64_t lane) {
        std::vector<int64_t> channels;
        for (int64_t slot = 0; slot < 4; ++slot) {
            const int64_t position = lane * 16 + slot * 4;
            for (int64_t c = 0; c < 128; ++c)
                if (nunchaku::micro_scale_position(c, 0, groups) == position) channels.push_back(c);
        }
        return channels;
    };

    EXPECT_EQ(lane_channels(0), (std::vector<int64_t>{0, 32, 64, 96}));
    EXPECT_EQ(lane_channels(1), (std::vector<int64_t>{8, 40, 72, 104}));
    EXPECT_EQ(lane_channels(4), (std::vector<int64_t>{1, 33, 65, 97}));
    EXPECT_EQ(nunchaku::micro_scale_position(0, 3, groups), 3) << "a channel's 4 scales are adjacent";
}

TEST(NunchakuPacking, LowRankFactorsMatchPackLowrankWeight) {
    const int64_t rank = 32, k = 256, n = 128;
    const auto down = random_values<uint16_t>(static_cast<size_t>(rank * k), 0, 65535, 10);
    const auto up = random_values<uint16_t>(static_cast<size_t>(n * rank), 0, 65535, 11);
    const auto down_position = [&](int64_t i, int64_t c) { return nunchaku::lowrank_down_position(i, c, rank); };
    const auto up_position = [&](int64_t r, int64_t i) { return nunchaku::lowrank_up_position(r, i, rank); };

    expect_packs_like(down, rank, k, down_position, ref_pack_lowrank(down, rank, k, true));
    expect_packs_like(up, n, rank, up_position, ref_pack_lowrank(up, n, rank, false));
}

TEST(AwqPacking, WeightMatchesTinyChatPackW4) {
    const int64_t n = 12, k = 192;
    const std::vector<int32_t> q = random_values<int32_t>(static_cast<size_t>(n * k), 0, 15, 12);
    const std::vector<uint8_t> canonical = canonical_nibbles(q);

    EXPECT_EQ(awq::pack_weight(canonical.data(), n, k), ref_pack_awq(q, n, k));
    EXPECT_EQ(awq::unpack_weight(ref_pack_awq(q, n, k).data(), n, k), canonical);
}

// pack_w4's comment: "[0, 1, ..., 31] -> [0, 8, 16, 24, 1, 9, 17, 25, ..., 7, 15, 23, 31]".
TEST(AwqPacking, NibbleOrderIsThePublishedOne) {
    const int64_t n = 4, k = 64;
    std::vector<int32_t> q(static_cast<size_t>(n * k), 0);
    std::iota(q.begin(), q.begin() + 16, 0);  // columns 0..15 of row 0 hold their own index
    const std::vector<uint8_t> canonical = canonical_nibbles(q);
    const std::vector<uint8_t> packed = awq::pack_weight(canonical.data(), n, k);

    const auto nibble = [&](int64_t i) { return (packed[static_cast<size_t>(i / 2)] >> ((i % 2) * 4)) & 0xF; };
    EXPECT_EQ((std::vector<int>{nibble(0), nibble(1), nibble(2), nibble(3), nibble(4), nibble(5)}),
              (std::vector<int>{0, 8, 0, 0, 1, 9}));  // columns 0, 8, 16, 24, 1, 9 (16 and 24 hold 0)
}

}  // namespace
