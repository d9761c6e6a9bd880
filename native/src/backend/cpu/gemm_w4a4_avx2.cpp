#include <cstring>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/simd_avx2.h"

SVDQ_AVX2_BEGIN
namespace svdq {

namespace {

// MR tokens x one panel of 8 output columns. Per 64-group: 16 vpmaddubsw
// (u8 weight nibbles w + 8 in 0..15 times s8 activations) summed in int16
// lanes, one vpmaddwd to int32, the +8 offset removed with the group's
// activation sum (sum((w + 8) a) - 8 sum(a) = sum(w a)), then one float FMA
// with both scales. Nothing saturates: a vpmaddubsw lane adds 2 products and
// each int16 lane takes 16 of them, so signed activations (-8..7) give pairs
// in [-240, 210] and lanes in [-3840, 3360]; unsigned ones (0..15) pairs in
// [0, 450] and lanes in [0, 7200], all far inside int16. In int32 the group
// sum is at most 64 * 15 * 15 and |sum(w a)| <= 64 * 8 * 15 = 7680 < 2^24,
// so its float conversion is exact too.
// One K block: the first starts from zero, later ones continue from the
// partial sums left in y, the last adds the branch and runs the epilogue.
template <int MR>
void w4a4_rows(const GemmW4A4Args& a, const avx2::KBlock& kb, int64_t m0, int64_t n0, int width) {
    const int64_t k = a.w->k, n = a.w->n, groups = k / 64;
    const int64_t panel = n0 / 8;
    const uint8_t* wq = a.w->bytes() + panel * k * 4;
    const uint16_t* ws = a.w->scales.data() + panel * groups * 8;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i ones = _mm256_set1_epi16(1);

    __m256 acc[MR];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) acc[r] = kb.first ? _mm256_setzero_ps() : avx2::load_partial(a.y + (m0 + r) * n + n0, width);
    for (int64_t g = kb.k0 / 64; g < (kb.k0 + kb.kc) / 64; ++g) {
        __m256i sum16[MR];
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) sum16[r] = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
            const __m256i packed = _mm256_load_si256(reinterpret_cast<const __m256i*>(wq + (g * 8 + c) * 32));
            const __m256i lo = _mm256_and_si256(packed, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r) {
                const int8_t* xq = a.qx + (m0 + r) * k + g * 64 + c * 8;
                int32_t quad0, quad1;
                std::memcpy(&quad0, xq, 4);
                std::memcpy(&quad1, xq + 4, 4);
                sum16[r] = _mm256_add_epi16(sum16[r], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(quad0)));
                sum16[r] = _mm256_add_epi16(sum16[r], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(quad1)));
            }
        }
        const __m256 wscale = avx2::load_bf16(ws + g * 8);
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const int64_t row = (m0 + r) * groups + g;
            const __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(sum16[r], ones), _mm256_set1_epi32(8 * a.gx[row]));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(_mm256_set1_ps(a.sx[row]), wscale), acc[r]);
        }
    }
    if (!kb.last) {
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) avx2::store_partial(acc[r], width, a.y + (m0 + r) * n + n0);
        return;
    }
    if (a.lowrank_act != nullptr) {
        const uint16_t* up = a.lowrank_up->halves() + panel * a.rank * 8;
        for (int64_t q = 0; q < a.rank; ++q) {
            const __m256 u = avx2::load_bf16(up + q * 8);
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r)
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a.lowrank_act[(m0 + r) * a.rank + q]), u, acc[r]);
        }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r) avx2::finish_store(acc[r], a.epilogue, m0 + r, n0, width, a.y + (m0 + r) * n + n0);
}

}  // namespace

void gemm_w4a4_avx2(const GemmW4A4Args& a, const Tile& t) {
    // K blocks of 1024 keep the tile's int8 rows (96 x 1 KiB) in L2 across
    // all of its panels, whatever K is.
    avx2::for_each_k_block(a.w->k, 1024, [&](const avx2::KBlock& kb) {
        for (int64_t n0 = t.n0; n0 < t.n1; n0 += 8) {
            const int width = static_cast<int>(std::min<int64_t>(8, t.n1 - n0));
            avx2::in_row_tiles<4>(t.m0, t.m1, [&](auto mr, int64_t m) { w4a4_rows<decltype(mr)::value>(a, kb, m, n0, width); });
        }
    });
}

}  // namespace svdq
SVDQ_AVX2_END
