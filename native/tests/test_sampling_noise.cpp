// The seeded Gaussian generator of sampling/noise.h: Random123's published
// Philox known answers, its first values as sampling_reference.py computes
// them from the documented definition, its statistics and its independence
// of how a range is split.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ios>
#include <limits>
#include <vector>

#include "sampling/noise.h"

namespace svdq {
namespace {

std::vector<uint32_t> bits_of(const std::vector<float>& values) {
    std::vector<uint32_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
    return bits;
}

std::vector<float> elements(uint64_t seed, uint32_t stream, uint64_t first, size_t count) {
    std::vector<float> out(count);
    GaussianNoise(seed, stream).fill(first, out.data(), count);
    return out;
}

TEST(Noise, PhiloxMatchesRandom123KnownAnswers) {
    using Block = std::array<uint32_t, 4>;
    EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (Block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
    EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
              (Block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
    EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
              (Block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

// Bit patterns from sampling_reference.py (Python, written from noise.h's
// definition; float64 arithmetic then round-to-nearest float32).
TEST(Noise, FirstValuesMatchTheIndependentReference) {
    EXPECT_EQ(bits_of(elements(0, 0, 0, 8)), (std::vector<uint32_t>{0xbe806375, 0x3f71f702, 0x3e7a3433, 0xbd922267,
                                                                     0xbf2d9a97, 0xbedcb8ff, 0x3fafacd9, 0xbecf96be}));
    EXPECT_EQ(bits_of(elements(42, 0, 0, 8)), (std::vector<uint32_t>{0x4014839b, 0xbf25341f, 0x3f647d56, 0xc03ba87f,
                                                                      0x3f82b278, 0x3efdfc5e, 0x3f99894d, 0x3f6437fa}));
    EXPECT_EQ(bits_of(elements(42, 7, 0, 4)), (std::vector<uint32_t>{0xbe56ee1c, 0x3f62367d, 0x3f501f40, 0xbe8282f8}));
    // A seed above 2^32 (both key words) and an element above 2^33 (both counter words).
    EXPECT_EQ(bits_of(elements((uint64_t{1} << 40) + 5, 3, 0, 4)),
              (std::vector<uint32_t>{0x3f25c7aa, 0xbfa087ab, 0x3fa8a0ff, 0x3f392607}));
    EXPECT_EQ(bits_of(elements(42, 0, (uint64_t{1} << 33) + 1, 2)), (std::vector<uint32_t>{0xbd81a070, 0xbf831506}));
}

// portable_log's bits as sampling_reference.py computes them from the same
// documented steps (Python floats are IEEE float64): the first four inputs
// sit near the ends of the mantissa range, where the series' last terms
// decide the last bit.
TEST(Noise, PortableLogMatchesTheIndependentReferenceBitForBit) {
    const double cases[][2] = {{0x1.69a6710846bdap-1, -0x1.63fda63e943a4p-2}, {0x1.675eed2d116c4p+0, 0x1.5b514b2d0d931p-2},
                               {0x1.69395974abd65p+0, 0x1.6095a707989b0p-2}, {0x1.67ce1cc34f9e9p+0, 0x1.5c8deb0c85c4bp-2},
                               {0x1.999999999999ap-4, -0x1.26bb1bbb55515p+1}, {0x1.4f8b588e368f1p-17, -0x1.7069e2aa2aa5bp+3},
                               {0x1.8p+1, 0x1.193ea7aad030bp+0}};
    for (const auto& c : cases) EXPECT_EQ(portable_log(c[0]), c[1]) << std::hexfloat << c[0];
}

// portable_log against the libm (itself within an ulp): measured worst 2 ulp,
// from the roundings of s = f / (2 + f) (the series is exact to far below an
// ulp). Bound 2 ulp, as noise.h documents.
TEST(Noise, PortableLogIsWithin2UlpOfTheLibm) {
    std::vector<double> xs = {std::numeric_limits<double>::min(), 0x1p-63, 1e-18, 1e-5, 0.1, 0.5, 0.7071067811865475,
                              0.7071067811865476, 0.99, 1.0 - 0x1p-52, 1.0, 1.0 + 0x1p-52, 1.5, 2.0, 3.0, 1e10, 1e300};
    const GaussianNoise noise(7, 0);
    for (const float z : noise.generate(20000)) xs.push_back(std::abs(static_cast<double>(z)) * 0.37 + 1e-9);
    double worst = 0.0;
    for (const double x : xs) {
        const double expected = std::log(x);
        const double ulp = std::abs(std::nextafter(expected, INFINITY) - expected);
        const double ulps = expected == 0.0 ? std::abs(portable_log(x)) : std::abs(portable_log(x) - expected) / ulp;
        worst = std::max(worst, ulps);
        EXPECT_LE(ulps, 2.0) << "log(" << x << ")";
    }
    RecordProperty("worst_ulps", std::to_string(worst));
}

// 1e6 values: the sample mean has standard error 1e-3, the variance 1.4e-3,
// the 4th moment (3) 9.8e-3; the share beyond 2 sigma (0.0455) 2.1e-4.
// Bounds are 5 standard errors. Measured (seed 1234): mean -1.8e-4, variance
// 0.99775, 4th moment 2.9899, tail 0.04538; neighbour correlations 3.1e-4
// and -2.5e-3 (standard error 1.4e-3).
TEST(Noise, MillionValuesAreStandardNormal) {
    const std::vector<float> z = GaussianNoise(1234, 0).generate(1000000);
    double sum = 0, sum2 = 0, sum4 = 0;
    size_t tail = 0;
    for (const float v : z) {
        sum += v;
        sum2 += double{v} * v;
        sum4 += double{v} * v * v * v;
        tail += std::abs(v) > 2.0f;
        ASSERT_TRUE(std::isfinite(v));
    }
    const double n = static_cast<double>(z.size()), mean = sum / n;
    const double variance = sum2 / n - mean * mean;
    EXPECT_NEAR(mean, 0.0, 5e-3);
    EXPECT_NEAR(variance, 1.0, 7e-3);
    EXPECT_NEAR(sum4 / n, 3.0, 0.05);
    EXPECT_NEAR(static_cast<double>(tail) / n, 0.0455, 1.05e-3);
    // Neighbours (the two values of a pair, and across pairs) are uncorrelated.
    double even_odd = 0, odd_even = 0;
    for (size_t i = 0; i + 2 < z.size(); i += 2) {
        even_odd += double{z[i]} * z[i + 1];
        odd_even += double{z[i + 1]} * z[i + 2];
    }
    EXPECT_NEAR(even_odd / (n / 2), 0.0, 7e-3);
    EXPECT_NEAR(odd_even / (n / 2), 0.0, 7e-3);
}

TEST(Noise, SameSeedSameNoiseOtherSeedOrStreamOtherNoise) {
    const std::vector<float> a = GaussianNoise(42, 0).generate(4096);
    EXPECT_EQ(bits_of(a), bits_of(GaussianNoise(42, 0).generate(4096)));
    const auto shared = [&](const std::vector<float>& b) {
        size_t same = 0;
        for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
        return same;
    };
    EXPECT_EQ(shared(GaussianNoise(43, 0).generate(4096)), 0u);
    EXPECT_EQ(shared(GaussianNoise(42, 1).generate(4096)), 0u);
    EXPECT_EQ(shared(GaussianNoise(42 + (uint64_t{1} << 32), 0).generate(4096)), 0u);  // the key's high word counts
}

// A caller may split a range over threads in any way: every split gives the
// bits of one fill of the whole.
TEST(Noise, AnySplitOfARangeGivesTheSameValues) {
    const GaussianNoise noise(99, 5);
    const std::vector<float> whole = noise.generate(1001);
    for (const size_t chunk : {1, 2, 3, 7, 64, 500}) {
        std::vector<float> pieces(whole.size());
        for (size_t first = 0; first < pieces.size(); first += chunk)
            noise.fill(first, pieces.data() + first, std::min(chunk, pieces.size() - first));
        EXPECT_EQ(bits_of(pieces), bits_of(whole)) << "chunks of " << chunk;
    }
    EXPECT_EQ(bits_of(elements(99, 5, 333, 5)), bits_of(std::vector<float>(whole.begin() + 333, whole.begin() + 338)));
}

}  // namespace
}  // namespace svdq
