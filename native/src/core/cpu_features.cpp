#include "core/cpu_features.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace svdq {

namespace {

CpuFeatures detect() {
    CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    f.avx512_vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
    f.avx512_bf16 = f.avx512_vnni && __builtin_cpu_supports("avx512bf16");
#endif
#endif
    return f;
}

svdq_cpu_level parse_level(const char* text) {
    const std::string s(text);
    if (s == "scalar") return SVDQ_CPU_SCALAR;
    if (s == "avx2") return SVDQ_CPU_AVX2;
    if (s == "avx512_vnni") return SVDQ_CPU_AVX512_VNNI;
    if (s == "auto" || s.empty()) return SVDQ_CPU_AUTO;
    fail(SVDQ_ERROR_INVALID_ARGUMENT,
         "SVDQ_CPU_LEVEL='" + s + "' is not one of scalar, avx2, avx512_vnni, auto");
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
    if (f.avx512_vnni) return SVDQ_CPU_AVX512_VNNI;
    if (f.avx2) return SVDQ_CPU_AVX2;
    return SVDQ_CPU_SCALAR;
}

svdq_cpu_level resolve_cpu_level(int32_t requested) {
    require(requested >= SVDQ_CPU_AUTO && requested <= SVDQ_CPU_AVX512_VNNI, SVDQ_ERROR_INVALID_ARGUMENT,
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
        case SVDQ_CPU_AUTO: break;
    }
    return "auto";
}

}  // namespace svdq
