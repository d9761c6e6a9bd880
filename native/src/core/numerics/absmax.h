// max |x[i]|, the statistic every group scale starts from.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

// SSE2 is part of x86-64 itself, so these loops need no run-time dispatch.
// GCC does not vectorize float max/min (maxps differs from std::max on NaN
// and signed zeros), so the x86 paths say it with intrinsics.
#if defined(__SSE2__) || defined(_M_X64)
#define SVDQ_HAVE_SSE2 1
#include <emmintrin.h>
#endif

namespace svdq {

// For finite x (NaN is rejected long before quantization).
inline float absmax_of(const float* x, int64_t count) {
    float m = 0.0f;
    int64_t tail = 0;
#if SVDQ_HAVE_SSE2
    tail = count - count % 4;
    const __m128 sign = _mm_set1_ps(-0.0f);
    __m128 lanes = _mm_setzero_ps();
    for (int64_t i = 0; i < tail; i += 4) lanes = _mm_max_ps(lanes, _mm_andnot_ps(sign, _mm_loadu_ps(x + i)));
    alignas(16) float v[4];
    _mm_store_ps(v, lanes);
    m = std::max(std::max(v[0], v[1]), std::max(v[2], v[3]));
#endif
    for (int64_t i = tail; i < count; ++i) m = std::max(m, std::fabs(x[i]));
    return m;
}

}  // namespace svdq
