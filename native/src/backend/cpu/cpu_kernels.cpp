#include "backend/cpu/cpu_kernels.h"

namespace svdq {

namespace {

const CpuKernels kScalar = {SVDQ_CPU_SCALAR,   pack_f32_scalar,  pack_int4_scalar, pack_int4_scalar,
                            quantize_act_scalar, gemm_w4a4_scalar, gemm_w4a16_scalar, gemm_f32_scalar};

}  // namespace

const CpuKernels& cpu_kernels_for(svdq_cpu_level /*level*/) {
    // Only the scalar references exist so far; SIMD tables join here, each
    // returned when `level` allows it.
    return kScalar;
}

}  // namespace svdq
