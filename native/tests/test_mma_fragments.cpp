// The CUDA W4A4 GEMM's lane-to-fragment index math (backend/cuda/
// mma_fragments.h), proven on the host: against the PTX ISA's fragment
// tables, written out here as the ISA states them (per element index i), and
// by emulating a warp's MMA from 32 lanes' registers gathered out of padded
// shared-memory-like tiles, which must give the exact integer product.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "backend/cuda/mma_fragments.h"

namespace {

using svdq::cuda::mma::Element;
namespace mma = svdq::cuda::mma;

int group(int lane) { return lane >> 2; }
int tig(int lane) { return lane % 4; }

// PTX ISA 9.7.14.5.11, mma.m16n8k64 (.s4/.u4): a_i, i = 0..31; b_i, i = 0..15; c_i, i = 0..3.
Element isa_a_16864(int lane, int i) {
    const int row = (i < 8 || (16 <= i && i < 24)) ? group(lane) : group(lane) + 8;
    const int col = i < 16 ? tig(lane) * 8 + (i & 0x7) : tig(lane) * 8 + (i & 0x7) + 32;
    return {row, col};
}
Element isa_b_16864(int lane, int i) {
    const int row = i < 8 ? tig(lane) * 8 + (i & 0x7) : tig(lane) * 8 + (i & 0x7) + 32;
    return {row, group(lane)};
}
Element isa_c_168(int lane, int i) { return {i < 2 ? group(lane) : group(lane) + 8, tig(lane) * 2 + (i & 0x1)}; }
// 9.7.14.5.10, mma.m16n8k32 (.s8/.u8): a_i, i = 0..15; b_i, i = 0..7.
Element isa_a_16832(int lane, int i) {
    const int row = (i < 4 || (8 <= i && i < 12)) ? group(lane) : group(lane) + 8;
    const int col = i < 8 ? tig(lane) * 4 + (i & 0x3) : tig(lane) * 4 + (i & 0x3) + 16;
    return {row, col};
}
Element isa_b_16832(int lane, int i) {
    const int row = i < 4 ? tig(lane) * 4 + (i & 0x3) : tig(lane) * 4 + (i & 0x3) + 16;
    return {row, group(lane)};
}
// 9.7.14.5.4, mma.m8n8k32 (.s4/.u4): a_i and b_i, i = 0..7; c_i, i = 0..1.
Element isa_a_8832(int lane, int i) { return {group(lane), tig(lane) * 8 + i}; }
Element isa_b_8832(int lane, int i) { return {tig(lane) * 8 + i, group(lane)}; }
Element isa_c_88(int lane, int i) { return {group(lane), tig(lane) * 2 + i}; }

bool same(Element a, Element b) { return a.row == b.row && a.col == b.col; }

TEST(MmaFragments, IndexFunctionsMatchThePtxIsaTables) {
    for (int lane = 0; lane < 32; ++lane) {
        for (int i = 0; i < 32; ++i) EXPECT_TRUE(same(mma::a_m16n8k64(lane, i / 8, i % 8), isa_a_16864(lane, i))) << lane << " a" << i;
        for (int i = 0; i < 16; ++i) EXPECT_TRUE(same(mma::b_m16n8k64(lane, i / 8, i % 8), isa_b_16864(lane, i))) << lane << " b" << i;
        for (int i = 0; i < 4; ++i) EXPECT_TRUE(same(mma::c_m16n8(lane, i), isa_c_168(lane, i))) << lane << " c" << i;
        for (int i = 0; i < 16; ++i) EXPECT_TRUE(same(mma::a_m16n8k32(lane, i / 4, i % 4), isa_a_16832(lane, i))) << lane << " a" << i;
        for (int i = 0; i < 8; ++i) EXPECT_TRUE(same(mma::b_m16n8k32(lane, i / 4, i % 4), isa_b_16832(lane, i))) << lane << " b" << i;
        for (int i = 0; i < 8; ++i) {
            EXPECT_TRUE(same(mma::a_m8n8k32(lane, i), isa_a_8832(lane, i))) << lane << " a" << i;
            EXPECT_TRUE(same(mma::b_m8n8k32(lane, i), isa_b_8832(lane, i))) << lane << " b" << i;
        }
        for (int i = 0; i < 2; ++i) EXPECT_TRUE(same(mma::c_m8n8(lane, i), isa_c_88(lane, i))) << lane << " c" << i;
    }
}

// Every element of an rows x cols matrix held by exactly one (lane, element).
template <class Map>
void expect_partition(int rows, int cols, int per_lane, Map map) {
    std::set<std::pair<int, int>> seen;
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < per_lane; ++i) {
            const Element e = map(lane, i);
            ASSERT_TRUE(e.row >= 0 && e.row < rows && e.col >= 0 && e.col < cols) << lane << "/" << i;
            EXPECT_TRUE(seen.insert({e.row, e.col}).second) << "(" << e.row << ", " << e.col << ") twice";
        }
    EXPECT_EQ(seen.size(), static_cast<size_t>(rows * cols));
}

TEST(MmaFragments, EachFragmentCoversItsMatrixOnce) {
    expect_partition(16, 64, 32, [](int l, int i) { return mma::a_m16n8k64(l, i / 8, i % 8); });
    expect_partition(64, 8, 16, [](int l, int i) { return mma::b_m16n8k64(l, i / 8, i % 8); });
    expect_partition(16, 8, 4, [](int l, int i) { return mma::c_m16n8(l, i); });
    expect_partition(16, 32, 16, [](int l, int i) { return mma::a_m16n8k32(l, i / 4, i % 4); });
    expect_partition(32, 8, 8, [](int l, int i) { return mma::b_m16n8k32(l, i / 4, i % 4); });
    expect_partition(8, 32, 8, [](int l, int i) { return mma::a_m8n8k32(l, i); });
    expect_partition(32, 8, 8, [](int l, int i) { return mma::b_m8n8k32(l, i); });
    expect_partition(8, 8, 2, [](int l, int i) { return mma::c_m8n8(l, i); });
}

// Tiles as the GEMM stages them: row-major nibbles, low first, rows padded to 48 bytes.
constexpr int kStride = 48;

struct Tiles {
    std::vector<uint8_t> a = std::vector<uint8_t>(16 * kStride), b = std::vector<uint8_t>(8 * kStride);
    int value_a[16][64], value_b[8][64];  // what the nibbles mean
};

Tiles random_tiles(uint32_t seed, bool a_unsigned) {
    std::mt19937 rng(seed);
    Tiles t;
    const auto put = [](std::vector<uint8_t>& tile, int row, int col, int nibble) {
        uint8_t& byte = tile[static_cast<size_t>(row * kStride + col / 2)];
        byte = static_cast<uint8_t>(col % 2 ? (byte & 0x0F) | (nibble << 4) : (byte & 0xF0) | nibble);
    };
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 64; ++c) {
            const int nibble = static_cast<int>(rng() % 16);
            put(t.a, r, c, nibble);
            t.value_a[r][c] = a_unsigned ? nibble : (nibble ^ 8) - 8;
        }
    for (int r = 0; r < 8; ++r)
        for (int c = 0; c < 64; ++c) {
            const int nibble = static_cast<int>(rng() % 16);
            put(t.b, r, c, nibble);
            t.value_b[r][c] = (nibble ^ 8) - 8;
        }
    // Padding bytes that a wrong stride would read.
    for (int r = 0; r < 16; ++r)
        for (int c = 32; c < kStride; ++c) t.a[static_cast<size_t>(r * kStride + c)] = 0x77;
    for (int r = 0; r < 8; ++r)
        for (int c = 32; c < kStride; ++c) t.b[static_cast<size_t>(r * kStride + c)] = 0x77;
    return t;
}

int nibble_value(uint32_t reg, int i, bool is_signed) {
    const int v = static_cast<int>((reg >> (4 * i)) & 0xF);
    return is_signed ? (v ^ 8) - 8 : v;
}
int byte_value(uint32_t reg, int i, bool is_signed) {
    const int v = static_cast<int>((reg >> (8 * i)) & 0xFF);
    return is_signed ? static_cast<int8_t>(v) : v;
}

// The hardware, as the ISA describes it: registers of all 32 lanes -> matrices -> D, handed back per lane.
// k_offset places a k32 step inside the 64-wide group.
void expect_exact_product(const Tiles& t, const int32_t c[32][4]) {
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) {
            const Element e = isa_c_168(lane, i);
            int32_t expected = 0;
            for (int k = 0; k < 64; ++k) expected += t.value_a[e.row][k] * t.value_b[e.col][k];
            EXPECT_EQ(c[lane][i], expected) << "lane " << lane << " c" << i;
        }
}

class MmaEmulation : public testing::TestWithParam<bool> {};  // param: unsigned activations

TEST_P(MmaEmulation, M16n8k64FragmentsGiveTheExactProduct) {
    const bool a_unsigned = GetParam();
    const Tiles t = random_tiles(7, a_unsigned);
    int a[16][64], b[64][8];
    for (int lane = 0; lane < 32; ++lane) {
        const mma::Fragments_m16n8k64 f = mma::load_m16n8k64(t.a.data(), kStride, t.b.data(), kStride, lane);
        for (int i = 0; i < 32; ++i) {
            const Element e = isa_a_16864(lane, i);
            a[e.row][e.col] = nibble_value(f.a[i / 8], i % 8, !a_unsigned);
        }
        for (int i = 0; i < 16; ++i) {
            const Element e = isa_b_16864(lane, i);
            b[e.row][e.col] = nibble_value(f.b[i / 8], i % 8, true);
        }
    }
    int32_t c[32][4];
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) {
            const Element e = isa_c_168(lane, i);
            c[lane][i] = 0;
            for (int k = 0; k < 64; ++k) c[lane][i] += a[e.row][k] * b[k][e.col];
        }
    expect_exact_product(t, c);
}

TEST_P(MmaEmulation, WidenedM16n8k32StepsGiveTheExactProduct) {
    const bool a_unsigned = GetParam();
    const Tiles t = random_tiles(11, a_unsigned);
    int32_t c[32][4] = {};
    for (int step = 0; step < 2; ++step) {
        int a[16][32], b[32][8];
        for (int lane = 0; lane < 32; ++lane) {
            const mma::Fragments_m16n8k32 f =
                mma::load_m16n8k32_widened(t.a.data(), kStride, !a_unsigned, t.b.data(), kStride, lane, step);
            for (int i = 0; i < 16; ++i) {
                const Element e = isa_a_16832(lane, i);
                a[e.row][e.col] = byte_value(f.a[i / 4], i % 4, !a_unsigned);
            }
            for (int i = 0; i < 8; ++i) {
                const Element e = isa_b_16832(lane, i);
                b[e.row][e.col] = byte_value(f.b[i / 4], i % 4, true);
            }
        }
        for (int lane = 0; lane < 32; ++lane)
            for (int i = 0; i < 4; ++i) {
                const Element e = isa_c_168(lane, i);
                for (int k = 0; k < 32; ++k) c[lane][i] += a[e.row][k] * b[k][e.col];
            }
    }
    expect_exact_product(t, c);
}

TEST_P(MmaEmulation, M8n8k32PiecesGiveTheExactProduct) {
    const bool a_unsigned = GetParam();
    const Tiles t = random_tiles(13, a_unsigned);
    int32_t c[32][4] = {};
    for (int half = 0; half < 2; ++half)
        for (int step = 0; step < 2; ++step) {
            int a[8][32], b[32][8];
            for (int lane = 0; lane < 32; ++lane) {
                const mma::Fragments_m8n8k32 f = mma::load_m8n8k32(t.a.data(), kStride, t.b.data(), kStride, lane, half, step);
                for (int i = 0; i < 8; ++i) {
                    const Element ea = isa_a_8832(lane, i), eb = isa_b_8832(lane, i);
                    a[ea.row][ea.col] = nibble_value(f.a, i, !a_unsigned);
                    b[eb.row][eb.col] = nibble_value(f.b, i, true);
                }
            }
            for (int lane = 0; lane < 32; ++lane) {
                int32_t c8[2] = {0, 0};
                for (int i = 0; i < 2; ++i) {
                    const Element e = isa_c_88(lane, i);
                    for (int k = 0; k < 32; ++k) c8[i] += a[e.row][k] * b[k][e.col];
                }
                mma::add_m8n8(c[lane], c8, half);
            }
        }
    expect_exact_product(t, c);
}

INSTANTIATE_TEST_SUITE_P(SignedAndUnsignedActivations, MmaEmulation, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& info) { return info.param ? "Unsigned" : "Signed"; });

}  // namespace
