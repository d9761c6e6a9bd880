// Kernel levels for tests that pin one (internal: the C API tests do not see
// core/). Tests parameterised over levels list every level on every machine
// and skip, naming the reason, the ones this process cannot run, so a level
// never drops out of the counts silently, and SVDQ_CPU_LEVEL in the
// environment can skip a pinned test but never change what it tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "test_util.h"

namespace svdq::test {

inline std::vector<svdq_cpu_level> all_levels() { return {SVDQ_CPU_SCALAR, SVDQ_CPU_AVX2, SVDQ_CPU_AVX512_VNNI, SVDQ_CPU_AVX512_BF16}; }

// Why a context pinned to `level` would not run it here; empty when it would.
inline std::string why_level_cannot_run(svdq_cpu_level level) {
    if (level > detected_cpu_level())
        return std::string("this CPU cannot run the ") + cpu_level_name(level) + " level (it supports " +
               cpu_level_name(detected_cpu_level()) + ")";
    if (resolve_cpu_level(level) != level)
        return std::string("SVDQ_CPU_LEVEL=") + std::getenv("SVDQ_CPU_LEVEL") + " caps contexts below " + cpu_level_name(level);
    return "";
}

// Options for a context that runs exactly `level` (check it with SVDQ_REQUIRE_LEVEL first).
inline svdq_context_options level_options(svdq_cpu_level level) {
    svdq_context_options o = context_options();
    o.cpu_level = level;
    return o;
}

// X as a context at `level` feeds it to a W4A16 GEMM: rounded to BF16 at
// avx512_bf16 (its BF16 dot products), as is below.
inline std::vector<float> w4a16_input(svdq_cpu_level level, const std::vector<float>& x) {
    return level == SVDQ_CPU_AVX512_BF16 ? bf16_values(x) : x;
}

// Options for a context whose W4A16 GEMM reads X in fp32: the best level up
// to avx512_vnni. For tests bounding a whole W4A16 model by fp32 rounding;
// the avx512_bf16 level's W4A16 is bounded by its own tests
// (test_cpu_kernels.cpp) and the models' error-against-float tests.
inline svdq_context_options fp32_w4a16_options() { return level_options(SVDQ_CPU_AVX512_VNNI); }

}  // namespace svdq::test

// Skips the current test, with the reason, when `level` cannot run in this process.
#define SVDQ_REQUIRE_LEVEL(level)                                                                  \
    do {                                                                                           \
        if (const std::string why_ = ::svdq::test::why_level_cannot_run(level); !why_.empty()) \
            GTEST_SKIP() << why_;                                                                  \
    } while (0)
