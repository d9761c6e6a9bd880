// The kernel levels this machine can run, for tests parameterised over them
// (internal: the C API tests do not see core/).
#pragma once

#include <vector>

#include "core/cpu_features.h"

namespace svdq::test {

inline std::vector<svdq_cpu_level> runnable_levels() {
    std::vector<svdq_cpu_level> levels;
    for (svdq_cpu_level l : {SVDQ_CPU_SCALAR, SVDQ_CPU_AVX2, SVDQ_CPU_AVX512_VNNI})
        if (l <= detected_cpu_level()) levels.push_back(l);
    return levels;
}

}  // namespace svdq::test
