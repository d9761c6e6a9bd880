// AVX2 + FMA building blocks shared by the AVX2 kernels, which run only
// after CPUID said yes.
//
// Only the code between SVDQ_AVX2_BEGIN and SVDQ_AVX2_END is compiled for
// AVX2; each *_avx2.cpp includes its headers first, then wraps its code in
// the pair. A file-wide -mavx2 would be unsafe: every inline function or
// template the file instantiates (std::vector's members, std::min,
// PackedWeights' accessors; at -O0 nearly all) is emitted as a COMDAT copy,
// the linker keeps one copy per symbol for the whole library, and a scalar
// caller handed the AVX2 copy dies with SIGILL on a CPU without AVX. With the
// target pragma those copies stay baseline x86-64, and the helpers here live
// in an unnamed namespace. The test simd_isolation checks the library, and
// ./build.sh test runs a scalar subset under qemu's Nehalem (no AVX).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "backend/cpu/cpu_kernels.h"
#include "svdquant.h"

#if defined(__clang__)
#define SVDQ_AVX2_BEGIN _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define SVDQ_AVX2_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define SVDQ_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define SVDQ_AVX2_END _Pragma("GCC pop_options")
#else  // MSVC emits the intrinsics without /arch and vectorises nothing else
#define SVDQ_AVX2_BEGIN
#define SVDQ_AVX2_END
#endif

// Register tiles live in small arrays; fully unrolled loops over them let
// the compiler keep every element in a register instead of on the stack.
#if defined(__clang__)
#define SVDQ_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define SVDQ_UNROLL _Pragma("GCC unroll 16")
#else
#define SVDQ_UNROLL
#endif

SVDQ_AVX2_BEGIN
namespace svdq::avx2 {
namespace {

// 8 BF16 values widened to float: a BF16 is the high half of its fp32.
inline __m256 load_bf16(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// Lanes [0, count) set: masked loads at the ragged right edge of a matrix.
inline __m256i first_lanes(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// e^x, Cephes-style: range reduction by ln 2 (in two parts) and a degree-5
// polynomial, about 1 ulp over the clamped range. The constants are shared
// with avx512::exp. A NaN stays NaN: maxps and minps return their second
// operand when either is NaN, so x goes second in the clamp (first, a NaN
// score would clamp to a weight of ~1e-38 and vanish from attention).
constexpr float kExpMin = -87.3f, kExpMax = 88.3f, kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;
constexpr float kExpPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                              4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

inline __m256 exp(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(kExpMax), _mm256_max_ps(_mm256_set1_ps(kExpMin), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), x);
    __m256 p = _mm256_set1_ps(kExpPoly[0]);
    for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(kExpPoly[i]));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
}

// GELU (tanh form): 0.5 v (1 + tanh(u)) = v - v / (e^(2u) + 1).
inline __m256 gelu_tanh(__m256 v) {
    const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
    const __m256 e = exp(_mm256_add_ps(u, u));
    return _mm256_sub_ps(v, _mm256_div_ps(v, _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
}

// a * b rounded on its own. GCC contracts C++ by default
// (-ffp-contract=fast), and with FMA enabled would fuse the product with a
// following sum into one FMA, one rounding fewer than the scalar code
// (compiled without FMA) and than gated_add: the empty asm hides the
// product from it.
inline __m256 rounded_mul(__m256 a, __m256 b) {
    __m256 p = _mm256_mul_ps(a, b);
#if defined(__GNUC__)
    __asm__("" : "+x"(p));
#endif
    return p;
}

// The Epilogue chain (cpu_kernels.h) on row i, columns [j, j + count)
// (count 1..8), lane for lane the scalar finish_store's float operations;
// y points at y[i, j].
inline void finish_store(__m256 acc, const Epilogue& e, int64_t i, int64_t j, int count, float* y) {
    const __m256i mask = first_lanes(count);
    const auto load = [&](const float* p) { return count == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask); };
    const auto store = [&](float* p, __m256 v) {
        if (count == 8)
            _mm256_storeu_ps(p, v);
        else
            _mm256_maskstore_ps(p, mask, v);
    };
    if (e.bias != nullptr) acc = _mm256_add_ps(acc, load(e.bias + j));
    if (e.activation == SVDQ_ACTIVATION_GELU_TANH) acc = gelu_tanh(acc);
    if (e.addend != nullptr) acc = _mm256_add_ps(acc, load(e.addend + i * e.addend_stride + j));
    if (e.residual != nullptr) {
        float* r = e.residual + i * e.residual_stride + j;
        store(r, _mm256_add_ps(load(r), rounded_mul(load(e.gate + j), acc)));
    } else {
        store(y, acc);
    }
}

// Calls body(std::integral_constant<int, MR>, i) over [begin, end) in
// register tiles of MaxMR rows, then one narrower tile for the remainder.
template <int MaxMR, class Body>
inline void in_row_tiles(int64_t begin, int64_t end, const Body& body) {
    int64_t i = begin;
    for (; i + MaxMR <= end; i += MaxMR) body(std::integral_constant<int, MaxMR>{}, i);
    if constexpr (MaxMR > 1) {
        if (i < end) in_row_tiles<MaxMR - 1>(i, end, body);
    }
}

// The float micro-kernel: MR rows of X times one packed panel of 16 columns
// ([k][16] floats, k-major), accumulated in 2 * MR registers.
template <int MR>
inline void f32_panel(const float* x, int64_t ldx, const float* panel, int64_t k, __m256 (&acc)[MR][2]) {
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < k; ++j) {
        const __m256 w0 = _mm256_load_ps(panel + j * 16);
        const __m256 w1 = _mm256_load_ps(panel + j * 16 + 8);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m256 a = _mm256_broadcast_ss(x + r * ldx + j);
            acc[r][0] = _mm256_fmadd_ps(a, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, w1, acc[r][1]);
        }
    }
}

// Stores `count` (1..8) raw values: partial sums between K blocks.
inline void store_partial(__m256 v, int count, float* y) {
    if (count == 8)
        _mm256_storeu_ps(y, v);
    else
        _mm256_maskstore_ps(y, first_lanes(count), v);
}

inline __m256 load_partial(const float* y, int count) {
    return count == 8 ? _mm256_loadu_ps(y) : _mm256_maskload_ps(y, first_lanes(count));
}

// One K block of the float GEMM, split so the weight panel slice stays in L1:
// the first block starts from zero, later ones add to the partial sums in y,
// and the last runs the epilogue.
struct KBlock {
    int64_t k0, kc;
    bool first, last;
};

// Rows [m0, m0 + MR) times the K block of one 16-column panel slice
// ([kc][16] floats) into y columns [n, n + width).
template <int MR>
inline void f32_rows(const float* x, int64_t ldx, const float* panel_slice, const KBlock& kb, int64_t m0, int64_t n,
                     int width, const Epilogue& e, float* y, int64_t ldy) {
    __m256 acc[MR][2];
    f32_panel<MR>(x + m0 * ldx + kb.k0, ldx, panel_slice, kb.kc, acc);
    const int widths[2] = {width < 8 ? width : 8, width - 8};
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) {
        float* out = y + (m0 + r) * ldy + n;
        for (int c = 0; c < 2 && widths[c] > 0; ++c) {
            __m256 v = acc[r][c];
            if (!kb.first) v = _mm256_add_ps(v, load_partial(out + 8 * c, widths[c]));
            if (kb.last)
                finish_store(v, e, m0 + r, n + 8 * c, widths[c], out + 8 * c);
            else
                store_partial(v, widths[c], out + 8 * c);
        }
    }
}

// Every row of the tile times one panel slice, six rows at a time.
inline void f32_tile_panel(const float* x, int64_t ldx, const float* panel_slice, const KBlock& kb, int64_t m0,
                           int64_t m1, int64_t n, int width, const Epilogue& e, float* y, int64_t ldy) {
    in_row_tiles<6>(m0, m1, [&](auto mr, int64_t m) {
        f32_rows<decltype(mr)::value>(x, ldx, panel_slice, kb, m, n, width, e, y, ldy);
    });
}

// K blocks of at most `block` (a multiple of 64, so INT4 groups never
// straddle two blocks).
template <class Body>
inline void for_each_k_block(int64_t k, int64_t block, const Body& body) {
    for (int64_t k0 = 0; k0 < k; k0 += block) {
        const int64_t kc = k - k0 < block ? k - k0 : block;
        body(KBlock{k0, kc, k0 == 0, k0 + kc == k});
    }
}

// Float K block: a 16-column panel slice of 512 x 16 floats is 32 KiB (L1).
constexpr int64_t kFloatKBlock = 512;

}  // namespace
}  // namespace svdq::avx2
SVDQ_AVX2_END
