// What the CPU can run, read once from CPUID, and the kernel level a caller
// may cap it to (context option or SVDQ_CPU_LEVEL environment variable).
#pragma once

#include "svdquant.h"

namespace svdq {

struct CpuFeatures {
    bool avx2 = false;  // with FMA and F16C
    bool avx512_vnni = false;  // with F, BW, VL
    bool avx512_bf16 = false;  // AVX512_BF16 besides avx512_vnni's
};

const CpuFeatures& cpu_features();

// The best level this CPU supports.
svdq_cpu_level detected_cpu_level();

// The level to use: the lowest of the detected level, the requested cap and
// the SVDQ_CPU_LEVEL environment variable. Throws on an unknown value.
svdq_cpu_level resolve_cpu_level(int32_t requested);

const char* cpu_level_name(svdq_cpu_level level);

}  // namespace svdq
