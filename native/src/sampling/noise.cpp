#include "sampling/noise.h"

#include <cmath>

#include "core/error.h"

namespace svdq {

namespace {

std::array<uint32_t, 4> philox_round(const std::array<uint32_t, 4>& c, const std::array<uint32_t, 2>& k) {
    const uint64_t p0 = uint64_t{0xD2511F53u} * c[0];
    const uint64_t p1 = uint64_t{0xCD9E8D57u} * c[2];
    const auto hi = [](uint64_t p) { return static_cast<uint32_t>(p >> 32); };
    const auto lo = [](uint64_t p) { return static_cast<uint32_t>(p); };
    return {hi(p1) ^ c[1] ^ k[0], lo(p1), hi(p0) ^ c[3] ^ k[1], lo(p0)};
}

// u = (2w + 1 - 2^32) / 2^32: odd multiples of 2^-32 in (-1, 1), exact.
double centered_uniform(uint32_t w) {
    return static_cast<double>(static_cast<int64_t>(2 * uint64_t{w} + 1) - (int64_t{1} << 32)) * 0x1p-32;
}

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            key[0] += 0x9E3779B9u;
            key[1] += 0xBB67AE85u;
        }
        counter = philox_round(counter, key);
    }
    return counter;
}

double portable_log(double x) {
    int exponent = 0;
    double m = std::frexp(x, &exponent);  // exact: x = m * 2^exponent, m in [1/2, 1)
    if (m < 0x1.6a09e667f3bcdp-1) {        // sqrt(1/2): keep m in [sqrt(1/2), sqrt(2))
        m *= 2.0;
        exponent -= 1;
    }
    // ln(m) = 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ...), s = (m - 1) / (m + 1),
    // |s| < 0.1716: the terms past s^22/23 are below 2^-60 of the sum.
    const double f = m - 1.0;  // exact (Sterbenz)
    const double s = f / (2.0 + f);
    const double z = s * s;
    double series = 1.0 / 23.0;
    for (int k = 10; k >= 1; --k) series = series * z + 1.0 / (2 * k + 1);
    const double log_m = 2.0 * s + (2.0 * s) * (z * series);
    // ln 2 = hi + lo, hi with 20 trailing zero bits so exponent * hi is exact.
    constexpr double ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
    return exponent * ln2_hi + (log_m + exponent * ln2_lo);
}

std::array<float, 2> GaussianNoise::pair(uint64_t p) const {
    const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)};
    for (uint32_t attempt = 0;; ++attempt) {
        const auto w = philox4x32_10({static_cast<uint32_t>(p), static_cast<uint32_t>(p >> 32), stream_, attempt}, key);
        for (int candidate = 0; candidate < 2; ++candidate) {
            const double u = centered_uniform(w[2 * candidate]), v = centered_uniform(w[2 * candidate + 1]);
            const double s = u * u + v * v;
            if (s >= 1.0) continue;
            const double factor = std::sqrt(-2.0 * portable_log(s) / s);
            return {static_cast<float>(u * factor), static_cast<float>(v * factor)};
        }
        // Both candidates outside the unit disc (4.6% of pairs): the next attempt.
        require(attempt != UINT32_MAX, SVDQ_ERROR_INTERNAL, "Gaussian noise: no accepted candidate in 2^33 tries");
    }
}

void GaussianNoise::fill(uint64_t first, float* out, size_t count) const {
    uint64_t j = first;
    for (size_t i = 0; i < count;) {
        const auto z = pair(j / 2);
        for (size_t half = j % 2; half < 2 && i < count; ++half, ++i, ++j) out[i] = z[half];
    }
}

std::vector<float> GaussianNoise::generate(size_t count) const {
    std::vector<float> out(count);
    fill(0, out.data(), count);
    return out;
}

}  // namespace svdq
