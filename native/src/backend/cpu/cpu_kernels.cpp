#include "backend/cpu/cpu_kernels.h"

namespace svdq {

namespace {

template <class Args>
size_t no_scratch(const Args&) {
    return 0;
}

const CpuKernels kScalar = {SVDQ_CPU_SCALAR,     64,               64,
                            pack_f32_scalar,     pack_bf16_scalar,  pack_w4a16_scalar, pack_int4_scalar,
                            1,                   false,
                            quantize_act_scalar, no_scratch<QuantizeActArgs>,
                            gemm_w4a4_scalar,
                            gemm_w4a16_scalar,   gemm_w4a16_scalar_scratch,
                            nullptr,             nullptr,
                            gemm_f32_scalar,
                            gemm_bf16_scalar,    no_scratch<GemmFloatArgs>,
                            32,                  attention_scalar,  attention_scalar_scratch,
                                                 attention_scalar,  attention_scalar_scratch};

// Tiles of 96 rows (16 six-row micro-tiles) by 256 columns (whole panels):
// each column tile streams X from memory once. Attention tiles of 1024
// queries, over which the kernels pack each block of K and V once.
const CpuKernels kAvx2 = {SVDQ_CPU_AVX2,       96,              256,
                          pack_f32_avx2,       pack_bf16_avx2,  pack_w4a16_avx2, pack_w4a4_avx2,
                          8,                   false,
                          quantize_act_avx2,   quantize_act_avx2_scratch,
                          gemm_w4a4_avx2,
                          gemm_w4a16_avx2,     gemm_widened_avx2_scratch,
                          nullptr,             nullptr,
                          gemm_f32_avx2,
                          gemm_bf16_avx2,      gemm_widened_avx2_scratch,
                          1024,                attention_avx2,  attention_avx2_scratch,
                                               attention_avx2,  attention_avx2_scratch};

// The AVX2 table with the activation quantizer 16 lanes wide (its
// down-projection k-major, lanes over ranks), the W4A4
// GEMM on vpdpbusd in panels of 16 columns (its low-rank up-projection
// packed to match), the float, BF16 and W4A16 GEMMs on a 512-bit float
// micro-kernel (the AVX2 layouts), and attention 16 queries per register
// (the AVX2 kernel's results).
constexpr CpuKernels kAvx512Vnni = {SVDQ_CPU_AVX512_VNNI, 96,             256,
                                    pack_f32_avx2,        pack_bf16_avx2, pack_w4a16_avx2, pack_w4a4_avx512,
                                    16,                   true,
                                    quantize_act_avx512,  no_scratch<QuantizeActArgs>,
                                    gemm_w4a4_avx512,
                                    gemm_w4a16_avx512,    gemm_widened_avx2_scratch,
                                    nullptr,              nullptr,
                                    gemm_f32_avx512,
                                    gemm_bf16_avx512,     gemm_widened_avx2_scratch,
                                    1024,                 attention_avx512, attention_avx512_scratch,
                                                          attention_avx512, attention_avx512_scratch};

// The avx512_vnni table with the W4A16 GEMM and BF16 attention on BF16 dot
// products (X, and q, k, v and the probabilities, rounded to BF16). The
// float and BF16-weight GEMMs and fp32 attention keep the avx512_vnni
// kernels, so float models' results stay those of that level.
constexpr CpuKernels avx512_bf16_table() {
    CpuKernels t = kAvx512Vnni;
    t.level = SVDQ_CPU_AVX512_BF16;
    t.gemm_w4a16 = gemm_w4a16_avx512bf16;
    t.gemm_w4a16_scratch = gemm_w4a16_avx512bf16_scratch;
    t.prepare_w4a16 = prepare_w4a16_avx512bf16;
    t.prepare_w4a16_bytes = prepare_w4a16_avx512bf16_bytes;
    t.attention_bf16 = attention_avx512bf16;
    t.attention_bf16_scratch = attention_avx512bf16_scratch;
    return t;
}

constexpr CpuKernels kAvx512Bf16 = avx512_bf16_table();

}  // namespace

const CpuKernels& cpu_kernels_for(svdq_cpu_level level) {
    if (level >= SVDQ_CPU_AVX512_BF16) return kAvx512Bf16;
    if (level >= SVDQ_CPU_AVX512_VNNI) return kAvx512Vnni;
    if (level >= SVDQ_CPU_AVX2) return kAvx2;
    return kScalar;
}

}  // namespace svdq
