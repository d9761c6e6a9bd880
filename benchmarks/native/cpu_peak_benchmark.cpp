// svdquant_cpu_peak_benchmark: the rate at which this CPU retires the
// instructions our kernels are built on (vpdpbusd for W4A4, vdpbf16ps for
// W4A16 and BF16 attention, vfmadd231ps for the float GEMMs and the
// branch), on one thread and on one thread per core, so the GEMM rates in
// benchmarks/RESULTS.md are read against this machine's measured limits
// rather than a data sheet's. Each loop runs 14 independent register chains
// (more than latency x issue width on current x86 cores) and nothing else.
// Ops count 2 per multiply-add: 128 per 512-bit vpdpbusd (64 u8 x s8
// products), 64 per vdpbf16ps, 32 per 512-bit fp32 FMA; vpmaddubsw (the
// AVX2 W4A4 kernel's) counts its 32 products, before the adds it needs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <thread>
#include <vector>

#include "core/cpu_features.h"

namespace {

constexpr long kIterations = 20000000;

constexpr int kChains = 14;

// `insn src2, src1, dst` (AT&T order) on chains 0..13 with sources 14 and 15.
#define SVDQ_ONE(insn, reg, i) insn " %%" reg "14, %%" reg "15, %%" reg #i "\n"
#define SVDQ_CHAINS(insn, reg)                                                                                              \
    SVDQ_ONE(insn, reg, 0) SVDQ_ONE(insn, reg, 1) SVDQ_ONE(insn, reg, 2) SVDQ_ONE(insn, reg, 3) SVDQ_ONE(insn, reg, 4)       \
    SVDQ_ONE(insn, reg, 5) SVDQ_ONE(insn, reg, 6) SVDQ_ONE(insn, reg, 7) SVDQ_ONE(insn, reg, 8) SVDQ_ONE(insn, reg, 9)       \
    SVDQ_ONE(insn, reg, 10) SVDQ_ONE(insn, reg, 11) SVDQ_ONE(insn, reg, 12) SVDQ_ONE(insn, reg, 13)

#define SVDQ_LOOP(isa, name, insn, reg)                                                                               \
    __attribute__((target(isa))) void name(long n) {                                                                  \
        __asm__ volatile("vpxor %%xmm14, %%xmm14, %%xmm14\n vpxor %%xmm15, %%xmm15, %%xmm15\n 1:\n" SVDQ_CHAINS(insn, reg) \
                         "dec %0\n jnz 1b\n"                                                                             \
                         : "+r"(n)                                                                                       \
                         :                                                                                               \
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",     \
                           "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");                                           \
    }

SVDQ_LOOP("avx512f,avx512bw,avx512vl,avx512vnni", vpdpbusd_zmm, "vpdpbusd", "zmm")
SVDQ_LOOP("avx512f,avx512bw,avx512vl,avx512vnni", vpdpbusd_ymm, "vpdpbusd", "ymm")
SVDQ_LOOP("avx512f,avx512bw,avx512vl,avx512bf16", vdpbf16ps_zmm, "vdpbf16ps", "zmm")
SVDQ_LOOP("avx512f", vfmadd_zmm, "vfmadd231ps", "zmm")
SVDQ_LOOP("avx2,fma", vfmadd_ymm, "vfmadd231ps", "ymm")
SVDQ_LOOP("avx2", vpmaddubsw_ymm, "vpmaddubsw", "ymm")

struct Loop {
    const char* name;
    void (*run)(long);
    double ops_per_instruction;
    bool supported;
};

// Best of 3: instructions per second per thread, and ops per second in all.
void measure(const Loop& loop, int threads) {
    double best = std::numeric_limits<double>::infinity();
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> running;
        for (int t = 0; t < threads; ++t) running.emplace_back(loop.run, kIterations);
        for (std::thread& t : running) t.join();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double per_thread = static_cast<double>(kChains) * kIterations / best;
    std::printf("%-22s on %d thread(s): %5.2f G instructions/s per thread, %6.0f G op/s in all\n", loop.name, threads, per_thread * 1e-9,
                per_thread * threads * loop.ops_per_instruction * 1e-9);
}

}  // namespace

int main() {
    const svdq::CpuFeatures& cpu = svdq::cpu_features();
    const Loop loops[] = {{"vpdpbusd zmm", vpdpbusd_zmm, 128, cpu.avx512_vnni},
                          {"vpdpbusd ymm", vpdpbusd_ymm, 64, cpu.avx512_vnni},
                          {"vdpbf16ps zmm", vdpbf16ps_zmm, 64, cpu.avx512_bf16},
                          {"vfmadd231ps zmm (fp32)", vfmadd_zmm, 32, cpu.avx512_vnni},
                          {"vfmadd231ps ymm (fp32)", vfmadd_ymm, 16, cpu.avx2},
                          {"vpmaddubsw ymm", vpmaddubsw_ymm, 64, cpu.avx2}};
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (const Loop& loop : loops) {
        if (!loop.supported) {
            std::printf("%-22s not supported by this CPU\n", loop.name);
            continue;
        }
        measure(loop, 1);
        if (cores > 1) measure(loop, cores);
    }
    return 0;
}
