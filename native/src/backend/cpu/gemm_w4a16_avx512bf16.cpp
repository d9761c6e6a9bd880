// W4A16 on BF16 dot products (vdpbf16ps, the avx512_bf16 level), on
// pack_w4a16_avx2's layout. The weights stay exact: per K block and panel the
// unsigned nibbles u = q + 8 (0..15, exact in BF16) are widened once into
// the per-thread scratch as BF16 pairs (k, k + 1) per column, the operand
// layout vdpbf16ps wants. X is rounded to BF16 once per row block and K
// block (RNE, as AWQ and Nunchaku engines feed 16-bit activations), its pairs
// broadcast as 32-bit words. Per 64-group each lane sums u * x in fp32 (the
// products are exact), then y += scale * sum(u x) + zero * sum(x), the zero
// being AWQ's or -8 * scale without zeros, so the weight is (u - 8) * scale
// = q * scale exactly. Group results go through y, like the float kernels'
// partial sums across K blocks; the last group runs the epilogue chain.
#include <algorithm>

#include "backend/cpu/gemm_panels_avx2.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512BF16_BEGIN
namespace svdq {

namespace {

using avx512bf16::as_bf16;

constexpr int64_t kKBlock = 256;   // two panels' widened slices: 16 KiB of L1
constexpr int64_t kRowBlock = 96;  // rows of X rounded at once (the table's tile)
constexpr int kPairs = 32;         // k pairs per 64-group

// BF16 bit patterns of 0..15, indexed by u (vpermw reads the low 5 bits).
alignas(64) constexpr uint16_t kNibbleBf16[32] = {0x0000, 0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0, 0x40E0,
                                                  0x4100, 0x4110, 0x4120, 0x4130, 0x4140, 0x4150, 0x4160, 0x4170};

// Rows [kb.k0, kb.k0 + kb.kc) of 16-column panel `panel` as [kc / 2][16][2]
// BF16: column c's pair (k, k + 1) in 32-bit lane c.
void widen_pairs(const PackedWeights& w, int64_t panel, const avx2::KBlock& kb, uint16_t* out) {
    const uint8_t* q = w.bytes() + panel * w.k * 8 + kb.k0 * 8;
    const __m512i table = _mm512_load_si512(kNibbleBf16);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    for (int64_t p = 0; p < kb.kc / 2; ++p) {
        // Bytes 0..7 hold k = 2p, 8..15 k = 2p + 1; column 2b in byte b's low nibble.
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + p * 16));
        const __m128i lo = _mm_and_si128(packed, low4), hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
        const __m128i even = _mm_unpacklo_epi8(lo, hi), odd = _mm_unpackhi_epi8(lo, hi);  // columns 0..15 in order
        const __m256i pairs = _mm256_set_m128i(_mm_unpackhi_epi8(even, odd), _mm_unpacklo_epi8(even, odd));
        _mm512_store_si512(out + p * 32, _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(pairs), table));
    }
}

// Rows [m0, m1) of X, K block kb, rounded to BF16 into xb [rows][kc] and
// their per-group sums of the rounded values into sums [rows][kc / 64].
void round_rows(const float* x, int64_t ldx, int64_t m0, int64_t m1, const avx2::KBlock& kb, uint16_t* xb, float* sums) {
    const __m512bh ones = as_bf16(_mm512_set1_epi16(0x3F80));
    const int64_t groups = kb.kc / 64;
    for (int64_t m = m0; m < m1; ++m) {
        const float* row = x + m * ldx + kb.k0;
        uint16_t* out = xb + (m - m0) * kb.kc;
        for (int64_t g = 0; g < groups; ++g) {
            const float* v = row + g * 64;
            const __m512bh b0 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(v + 16), _mm512_loadu_ps(v));
            const __m512bh b1 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(v + 48), _mm512_loadu_ps(v + 32));
            _mm512_storeu_si512(out + g * 64, (__m512i)b0);
            _mm512_storeu_si512(out + g * 64 + 32, (__m512i)b1);
            const __m512 s = _mm512_dpbf16_ps(_mm512_dpbf16_ps(_mm512_setzero_ps(), b0, ones), b1, ones);
            sums[(m - m0) * groups + g] = _mm512_reduce_add_ps(s);
        }
    }
}

// Where one call of the register tile reads and writes.
struct PanelsArgs {
    const uint16_t* xb;  // rounded rows of the K block, [rows][kc]
    const float* sums;   // [rows][kc / 64]
    const uint16_t* wide;  // NP widened panel slices, kc * 16 BF16 apart
    const PackedWeights* w;
    avx2::KBlock kb;
    int64_t n0;  // first column; the tile covers [n0, n0 + width)
    int width;
    const Epilogue* epilogue;
    float* y;
};

// Rows [r0, r0 + MR) of the rounded block (absolute row m0 + r0) times NP
// panels: MR * NP accumulators, each weight pair register used MR times.
template <int MR, int NP>
void tile_rows(const PanelsArgs& a, int64_t r0, int64_t m) {
    const int64_t kc = a.kb.kc, groups = kc / 64, all_groups = a.w->k / 64, ldy = a.w->n;
    const uint32_t* xp = reinterpret_cast<const uint32_t*>(a.xb + r0 * kc);
    int widths[NP];
    __mmask16 lanes[NP];
    SVDQ_UNROLL
    for (int c = 0; c < NP; ++c) {
        widths[c] = std::min(16, a.width - 16 * c);
        lanes[c] = avx512::first_lanes(widths[c]);
    }
    for (int64_t g = 0; g < groups; ++g) {
        __m512 dot[MR][NP];
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r)
            SVDQ_UNROLL
            for (int c = 0; c < NP; ++c) dot[r][c] = _mm512_setzero_ps();
        for (int p = 0; p < kPairs; ++p) {
            const int64_t pair = g * kPairs + p;
            __m512bh w[NP];
            SVDQ_UNROLL
            for (int c = 0; c < NP; ++c) w[c] = as_bf16(_mm512_load_si512(a.wide + c * kc * 16 + pair * 32));
            SVDQ_UNROLL
            for (int r = 0; r < MR; ++r) {
                const __m512bh xr = as_bf16(_mm512_set1_epi32(static_cast<int>(xp[r * kc / 2 + pair])));
                SVDQ_UNROLL
                for (int c = 0; c < NP; ++c) dot[r][c] = _mm512_dpbf16_ps(dot[r][c], w[c], xr);
            }
        }
        const int64_t group = a.kb.k0 / 64 + g;
        const bool first = a.kb.first && g == 0, last = a.kb.last && g == groups - 1;
        __m512 scale[NP], zero[NP];
        SVDQ_UNROLL
        for (int c = 0; c < NP; ++c) {
            const size_t at = static_cast<size_t>((a.n0 / 16 + c) * all_groups * 16 + group * 16);
            scale[c] = avx512::load_bf16(a.w->scales.data() + at);
            zero[c] = a.w->zeros.empty() ? _mm512_mul_ps(scale[c], _mm512_set1_ps(-8.0f)) : avx512::load_bf16(a.w->zeros.data() + at);
        }
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r) {
            const __m512 sum = _mm512_set1_ps(a.sums[(r0 + r) * groups + g]);
            SVDQ_UNROLL
            for (int c = 0; c < NP; ++c) {
                float* out = a.y + (m + r) * ldy + a.n0 + 16 * c;
                __m512 acc = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lanes[c], out);
                acc = _mm512_fmadd_ps(zero[c], sum, _mm512_fmadd_ps(dot[r][c], scale[c], acc));
                if (last)
                    avx512::finish_store(acc, *a.epilogue, m + r, a.n0 + 16 * c, widths[c], out);
                else
                    _mm512_mask_storeu_ps(out, lanes[c], acc);
            }
        }
    }
}

// Register tiles of 12 rows by two panels (24 accumulators of 32), or one
// panel at the right edge.
template <int NP>
void block_rows(const PanelsArgs& a, int64_t m0, int64_t m1) {
    avx2::in_row_tiles<12>(m0, m1, [&](auto mr, int64_t m) { tile_rows<decltype(mr)::value, NP>(a, m - m0, m); });
}

}  // namespace

// Two widened panel slices, a row block of BF16 X and its group sums.
size_t gemm_w4a16_avx512bf16_scratch(const GemmFloatArgs& /*a*/) {
    return static_cast<size_t>(2 * kKBlock * 16 / 2 + kRowBlock * kKBlock / 2 + kRowBlock * kKBlock / 64);
}

void gemm_w4a16_avx512bf16(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    uint16_t* const wide = reinterpret_cast<uint16_t*>(scratch);
    uint16_t* const xb = wide + 2 * kKBlock * 16;
    float* const sums = reinterpret_cast<float*>(xb + kRowBlock * kKBlock);
    for (int64_t m0 = t.m0; m0 < t.m1; m0 += kRowBlock) {
        const int64_t m1 = std::min(t.m1, m0 + kRowBlock);
        avx2::for_each_k_block(a.w->k, kKBlock, [&](const avx2::KBlock& kb) {
            round_rows(a.x, a.w->k, m0, m1, kb, xb, sums);
            for (int64_t n0 = t.n0; n0 < t.n1; n0 += 32) {
                const int np = n0 + 16 < t.n1 ? 2 : 1;
                for (int c = 0; c < np; ++c) widen_pairs(*a.w, n0 / 16 + c, kb, wide + c * kb.kc * 16);
                const PanelsArgs pa{xb, sums, wide, a.w, kb, n0, static_cast<int>(std::min<int64_t>(32, t.n1 - n0)),
                                    &a.epilogue, a.y};
                if (np == 2)
                    block_rows<2>(pa, m0, m1);
                else
                    block_rows<1>(pa, m0, m1);
            }
        });
    }
}

}  // namespace svdq
SVDQ_AVX512BF16_END
