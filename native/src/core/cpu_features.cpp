#include "core/cpu_features.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

#if defined(_MSC_VER)
#include <immintrin.h>
#include <intrin.h>
#elif defined(__x86_64__)
#include <cpuid.h>
#endif

namespace svdq {

namespace {

#if defined(__x86_64__) || defined(_M_X64)
struct Regs {
    uint32_t a, b, c, d;
};

Regs cpuid(uint32_t leaf, uint32_t subleaf) {
    Regs r{};
#if defined(_MSC_VER)
    int v[4];
    __cpuidex(v, static_cast<int>(leaf), static_cast<int>(subleaf));
    r = {static_cast<uint32_t>(v[0]), static_cast<uint32_t>(v[1]), static_cast<uint32_t>(v[2]), static_cast<uint32_t>(v[3])};
#else
    __cpuid_count(leaf, subleaf, r.a, r.b, r.c, r.d);
#endif
    return r;
}

// Which register states the OS saves on a context switch (XCR0).
uint64_t os_saved_state() {
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    uint32_t lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
#endif
}

bool bit(uint32_t reg, int n) { return (reg >> n) & 1u; }

CpuFeatures detect() {
    CpuFeatures f;
    if (cpuid(0, 0).a < 7) return f;
    const Regs l1 = cpuid(1, 0);
    if (!bit(l1.c, 27)) return f;  // no OSXSAVE: the OS keeps no vector state
    const uint64_t xcr0 = os_saved_state();
    const bool ymm = (xcr0 & 0x6) == 0x6;
    const bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;
    const Regs l7 = cpuid(7, 0);
    const Regs l7s1 = cpuid(7, 1);
    f.avx2 = ymm && bit(l7.b, 5) && bit(l1.c, 12) && bit(l1.c, 29);  // AVX2, FMA, F16C
    f.avx512_vnni = f.avx2 && zmm && bit(l7.b, 16) && bit(l7.b, 30) && bit(l7.b, 31) && bit(l7.c, 11);  // F, BW, VL, VNNI
    f.avx512_bf16 = f.avx512_vnni && bit(l7s1.a, 5);
    return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

svdq_cpu_level parse_level(const char* text) {
    const std::string s(text);
    if (s == "scalar") return SVDQ_CPU_SCALAR;
    if (s == "avx2") return SVDQ_CPU_AVX2;
    if (s == "avx512_vnni") return SVDQ_CPU_AVX512_VNNI;
    if (s == "avx512_bf16") return SVDQ_CPU_AVX512_BF16;
    if (s == "auto" || s.empty()) return SVDQ_CPU_AUTO;
    fail(SVDQ_ERROR_INVALID_ARGUMENT,
         "SVDQ_CPU_LEVEL='" + s + "' is not one of scalar, avx2, avx512_vnni, avx512_bf16, auto");
}

svdq_cpu_level cap(svdq_cpu_level level, svdq_cpu_level limit) {
    return limit == SVDQ_CPU_AUTO ? level : std::min(level, limit);
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

svdq_cpu_level detected_cpu_level() {
    const CpuFeatures& f = cpu_features();
    if (f.avx512_bf16) return SVDQ_CPU_AVX512_BF16;
    if (f.avx512_vnni) return SVDQ_CPU_AVX512_VNNI;
    if (f.avx2) return SVDQ_CPU_AVX2;
    return SVDQ_CPU_SCALAR;
}

svdq_cpu_level resolve_cpu_level(int32_t requested) {
    require(requested >= SVDQ_CPU_AUTO && requested <= SVDQ_CPU_AVX512_BF16, SVDQ_ERROR_INVALID_ARGUMENT,
            "cpu_level " + std::to_string(requested) + " is not a svdq_cpu_level value");
    svdq_cpu_level level = cap(detected_cpu_level(), static_cast<svdq_cpu_level>(requested));
    if (const char* env = std::getenv("SVDQ_CPU_LEVEL")) level = cap(level, parse_level(env));
    return level;
}

const char* cpu_level_name(svdq_cpu_level level) {
    switch (level) {
        case SVDQ_CPU_SCALAR: return "scalar";
        case SVDQ_CPU_AVX2: return "avx2";
        case SVDQ_CPU_AVX512_VNNI: return "avx512_vnni";
        case SVDQ_CPU_AVX512_BF16: return "avx512_bf16";
        case SVDQ_CPU_AUTO: break;
    }
    return "auto";
}

}  // namespace svdq
