// Seeded Gaussian noise with the same bits on every platform and compiler.
//
// The generator, precisely (so that another tool can reproduce it):
//
// 1. Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
//    easy as 1, 2, 3", SC 2011; Random123's philox4x32 with 10 rounds):
//    counter c = (c0, c1, c2, c3), key k = (k0, k1), 32-bit words. A round:
//      hi0:lo0 = 0xD2511F53 * c0,  hi1:lo1 = 0xCD9E8D57 * c2  (64-bit products)
//      c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
//    and between rounds k0 += 0x9E3779B9, k1 += 0xBB67AE85 (mod 2^32).
//
// 2. Output element j of stream `stream` under `seed` belongs to pair
//    p = floor(j / 2); element 2p is z0 of that pair, 2p + 1 its z1.
//    Pair p tries attempts a = 0, 1, 2, ...: block
//      philox(c = (p mod 2^32, floor(p / 2^32), stream, a),
//             k = (seed mod 2^32, floor(seed / 2^32)))
//    gives words (w0, w1, w2, w3) and two candidates, (w0, w1) then (w2, w3).
//    A candidate (wu, wv) maps each word w to u = (2w + 1 - 2^32) / 2^32, an
//    exact double in (-1, 1), then s = u*u + v*v (float64, each operation
//    rounded). The first candidate with s < 1 is taken (s > 0 always):
//      f  = sqrt(-2 * portable_log(s) / s)
//      z0 = float32(u * f), z1 = float32(v * f)
//    (Marsaglia's polar method; float64 with round-to-nearest, rounded to
//    float32 to nearest-even at the end.)
//
// Every operation is +, -, *, / or sqrt of IEEE-754 float64, all correctly
// rounded, and portable_log below is built from them alone, so the bits do
// not depend on a libm. The sampling sources compile with -ffp-contract=off
// so no compiler fuses a multiply-add; an x87 build (32-bit x86 without
// SSE2) would be the residual risk and is not a platform of this engine.
//
// Elements are independent of how a range is split: fill(first, ...) of any
// sub-range gives the same values as one fill of the whole, whatever the
// thread count of a caller that splits the work.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace svdq {

// One Philox4x32-10 block.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// The natural logarithm of a positive, finite, normal float64 from +, -, *, /
// only (frexp-style exponent split, then the atanh series of the mantissa in
// [sqrt(1/2), sqrt(2)), 12 terms, and ln 2 split into a part with trailing
// zeros and a remainder): within 2 ulp of the exact value and the same bits
// on every IEEE-754 platform.
double portable_log(double x);

// The stream the initial latents of a generation take their noise from; the
// Euler-ancestral sampler's step i uses stream kAncestralStreamBase + i.
constexpr uint32_t kInitialNoiseStream = 0;
constexpr uint32_t kAncestralStreamBase = 1;

// Standard normal float32 values, element j of (seed, stream) as above.
class GaussianNoise {
public:
    GaussianNoise(uint64_t seed, uint32_t stream) : seed_(seed), stream_(stream) {}

    // out[i] = element first + i, for i < count.
    void fill(uint64_t first, float* out, size_t count) const;
    std::vector<float> generate(size_t count) const;

private:
    std::array<float, 2> pair(uint64_t p) const;

    uint64_t seed_;
    uint32_t stream_;
};

}  // namespace svdq
