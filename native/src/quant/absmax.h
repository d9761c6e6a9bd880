// max |x[i]|, the statistic every group scale starts from.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace svdq {

// Eight running maxima the compiler keeps in one vector register (max is
// exact, so the order of the comparisons does not change the result).
inline float absmax_of(const float* x, int64_t count) {
    float m[8] = {};
    for (int64_t i = 0; i < count; ++i) m[i & 7] = std::max(m[i & 7], std::fabs(x[i]));
    return *std::max_element(m, m + 8);
}

}  // namespace svdq
