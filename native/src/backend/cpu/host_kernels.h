// The CPU kernels that host-side work (the offline quantizer's float GEMMs)
// runs on, whichever backend runs the model: the context's level when its
// backend has one, else the best this CPU has (capped by SVDQ_CPU_LEVEL).
#pragma once

#include "backend/context.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/cpu_features.h"

namespace svdq {

inline const CpuKernels& host_kernels(const Context& ctx) {
    const svdq_cpu_level level = ctx.backend().cpu_level();
    return cpu_kernels_for(level == SVDQ_CPU_AUTO ? resolve_cpu_level(SVDQ_CPU_AUTO) : level);
}

}  // namespace svdq
