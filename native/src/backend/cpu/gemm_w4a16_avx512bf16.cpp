// W4A16 on BF16 dot products (vdpbf16ps, the avx512_bf16 level), on
// pack_w4a16_avx2's layout. The weights stay exact: per K block and panel the
// nibbles are widened once into the per-thread scratch as BF16 pairs
// (k, k + 1) per column, the operand layout vdpbf16ps wants: q (-8..7)
// without zeros, u = q + 8 (0..15) with AWQ's, both exact in BF16. X is
// rounded to BF16 (RNE, as AWQ and Nunchaku engines feed 16-bit
// activations) once per GEMM before the tiles, by prepare_w4a16_avx512bf16
// (per tile, the pass was repeated for every column tile: ~14% of the GEMM
// at 3072 x 3072); its pairs are broadcast as 32-bit words.
// Per 64-group each lane sums w x in fp32 (the products are exact), then
// acc += scale * sum(q x), or with AWQ zeros acc += scale * sum(u x) +
// zero * sum(x), the weight being exactly q * scale or u * scale + zero.
// The accumulators stay in registers over the K block; between blocks they
// go through y, like the float kernels' partial sums, and the last block
// runs the epilogue chain.
#include <algorithm>
#include <vector>

#include "backend/cpu/gemm_panels_avx2.h"
#include "backend/cpu/simd_avx512.h"

SVDQ_AVX512BF16_BEGIN
namespace svdq {

namespace {

using avx512bf16::as_bf16;

constexpr int64_t kKBlock = 256;   // two panels' widened slices: 16 KiB of L1
constexpr int64_t kGroups = kKBlock / 64;
constexpr int64_t kRowBlock = 96;  // rows per pass over the K block's panels (the table's tile)
constexpr int kPairs = 32;         // k pairs per 64-group
constexpr int kTileRows = 7;       // 7 x 2 panels: 14 sums and 14 accumulators in zmm

// BF16 bits of an integer v, |v| < 256 (exact in 8 significant bits).
constexpr uint16_t small_int_bf16(int v) {
    const int mag = v < 0 ? -v : v;
    if (mag == 0) return 0;
    int e = 0;
    while ((mag >> (e + 1)) != 0) ++e;
    return static_cast<uint16_t>((v < 0 ? 0x8000 : 0) | (127 + e) << 7 | ((mag << (7 - e)) & 0x7F));
}

// BF16 bit patterns of u + offset, indexed by the nibble u; vpermw reads
// the low 5 bits, so entries 16..31 repeat 0..15 (bit 4 may be the next
// nibble's).
struct NibbleTable {
    alignas(64) uint16_t bits[32];
};
constexpr NibbleTable nibble_table(int offset) {
    NibbleTable t{};
    for (int u = 0; u < 32; ++u) t.bits[u] = small_int_bf16(u % 16 + offset);
    return t;
}
constexpr NibbleTable kUnsigned = nibble_table(0);  // u, for AWQ zeros
constexpr NibbleTable kSigned = nibble_table(-8);   // q = u - 8, without zeros
static_assert(kUnsigned.bits[1] == 0x3F80 && kUnsigned.bits[15] == 0x4170 && kSigned.bits[0] == 0xC100 &&
              kSigned.bits[7] == 0xBF80 && kSigned.bits[8] == 0 && kSigned.bits[27] == 0x4040);

// Where output word 2c + h of pair `pair` (0 or 1 of a 32-byte load) finds
// its nibble among the loaded bytes widened to words (index < 32) and the
// same shifted right by 4 (index + 32): column c at k = 2p + h is in byte
// 8h + c / 2, the low nibble for even c.
struct PairIndex {
    alignas(64) uint16_t index[32];
};
constexpr PairIndex pair_index(int pair) {
    PairIndex t{};
    for (int i = 0; i < 32; ++i) {
        const int c = i / 2, h = i % 2;
        t.index[i] = static_cast<uint16_t>(16 * pair + 8 * h + c / 2 + (c % 2) * 32);
    }
    return t;
}
constexpr PairIndex kFirstPair = pair_index(0), kSecondPair = pair_index(1);

// Rows [kb.k0, kb.k0 + kb.kc) of 16-column panel `panel` as [kc / 2][16][2]
// BF16 through `table`: column c's pair (k, k + 1) in 32-bit lane c. Two
// pairs per step: one 32-byte load (16 bytes per k pair, column 2b in byte
// b's low nibble), widened to words, one permute each into pair order, one
// lookup each.
void widen_pairs(const PackedWeights& w, int64_t panel, const avx2::KBlock& kb, const NibbleTable& lookup, uint16_t* out) {
    const uint8_t* q = w.bytes() + panel * w.k * 8 + kb.k0 * 8;
    const __m512i table = _mm512_load_si512(lookup.bits);
    const __m512i first = _mm512_load_si512(kFirstPair.index), second = _mm512_load_si512(kSecondPair.index);
    for (int64_t p = 0; p < kb.kc / 2; p += 2) {
        const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + p * 16)));
        const __m512i high = _mm512_srli_epi16(bytes, 4);
        _mm512_store_si512(out + p * 32, _mm512_permutexvar_epi16(_mm512_permutex2var_epi16(bytes, first, high), table));
        _mm512_store_si512(out + p * 32 + 32, _mm512_permutexvar_epi16(_mm512_permutex2var_epi16(bytes, second, high), table));
    }
}

// The K block's BF16 values of panel `panel` from per-group data laid out
// like the scales ([panel][group][16]) as fp32 [kc / 64][16].
void widen_groups(const std::vector<uint16_t>& v, int64_t panel, int64_t all_groups, const avx2::KBlock& kb, float* out) {
    for (int64_t g = 0; g < kb.kc / 64; ++g)
        _mm512_store_ps(out + g * 16, avx512::load_bf16(v.data() + (panel * all_groups + kb.k0 / 64 + g) * 16));
}

// Rows [m0, m1) of X, K block kb, rounded to BF16 into xb [rows][kc], and
// with AWQ zeros (sums not null) each group's sum of the rounded values into
// sums [rows][kc / 64] (prepare_w4a16_avx512bf16 passes all of K).
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
            if (sums == nullptr) continue;
            const __m512 s = _mm512_dpbf16_ps(_mm512_dpbf16_ps(_mm512_setzero_ps(), b0, ones), b1, ones);
            sums[(m - m0) * groups + g] = _mm512_reduce_add_ps(s);
        }
    }
}

// Where one call of the register tile reads and writes.
struct PanelsArgs {
    const uint16_t* xb;    // rounded rows from the K block's start, ldx apart
    const float* sums;     // their group sums from the K block's first group, lds apart, with AWQ zeros
    int64_t ldx, lds;
    const uint16_t* wide;  // NP widened panel slices, kc * 16 BF16 apart
    const float* scales;   // NP panels' group scales, [NP][kGroups][16]
    const float* zeros;    // the same for AWQ zeros
    const PackedWeights* w;
    avx2::KBlock kb;
    int64_t n0;  // first column; the tile covers [n0, n0 + width)
    int width;
    const Epilogue* epilogue;
    float* y;
};

// Rows [r0, r0 + MR) of the rounded block (absolute row m0 + r0) times NP
// panels over the K block: per group MR * NP dot-product sums, each weight
// pair register used MR times, folded into MR * NP accumulators that stay in
// registers across the block's groups (y read and written once per block).
template <int MR, int NP, bool Zeros>
void tile_rows(const PanelsArgs& a, int64_t r0, int64_t m) {
    const int64_t kc = a.kb.kc, groups = kc / 64, ldy = a.w->n;
    const uint32_t* xp = reinterpret_cast<const uint32_t*>(a.xb + r0 * a.ldx);
    int widths[NP];
    __mmask16 lanes[NP];
    SVDQ_UNROLL
    for (int c = 0; c < NP; ++c) {
        widths[c] = std::min(16, a.width - 16 * c);
        lanes[c] = avx512::first_lanes(widths[c]);
    }
    __m512 acc[MR][NP];
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r)
        SVDQ_UNROLL
        for (int c = 0; c < NP; ++c)
            acc[r][c] = a.kb.first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lanes[c], a.y + (m + r) * ldy + a.n0 + 16 * c);
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
                const __m512bh xr = as_bf16(_mm512_set1_epi32(static_cast<int>(xp[r * a.ldx / 2 + pair])));
                SVDQ_UNROLL
                for (int c = 0; c < NP; ++c) dot[r][c] = _mm512_dpbf16_ps(dot[r][c], w[c], xr);
            }
        }
        SVDQ_UNROLL
        for (int r = 0; r < MR; ++r)
            SVDQ_UNROLL
            for (int c = 0; c < NP; ++c) {
                acc[r][c] = _mm512_fmadd_ps(dot[r][c], _mm512_load_ps(a.scales + (c * kGroups + g) * 16), acc[r][c]);
                if constexpr (Zeros)
                    acc[r][c] = _mm512_fmadd_ps(_mm512_load_ps(a.zeros + (c * kGroups + g) * 16),
                                                _mm512_set1_ps(a.sums[(r0 + r) * a.lds + g]), acc[r][c]);
            }
    }
    SVDQ_UNROLL
    for (int r = 0; r < MR; ++r)
        SVDQ_UNROLL
        for (int c = 0; c < NP; ++c) {
            float* out = a.y + (m + r) * ldy + a.n0 + 16 * c;
            if (a.kb.last)
                avx512::finish_store(acc[r][c], *a.epilogue, m + r, a.n0 + 16 * c, widths[c], out);
            else
                _mm512_mask_storeu_ps(out, lanes[c], acc[r][c]);
        }
}

// Register tiles of kTileRows rows by two panels, or one panel at the
// right edge.
template <int NP, bool Zeros>
void block_rows(const PanelsArgs& a, int64_t m0, int64_t m1) {
    avx2::in_row_tiles<kTileRows>(m0, m1, [&](auto mr, int64_t m) { tile_rows<decltype(mr)::value, NP, Zeros>(a, m - m0, m); });
}

}  // namespace

// X's BF16 rows [m][k], then with AWQ zeros their group sums [m][k / 64].
size_t prepare_w4a16_avx512bf16_bytes(const GemmFloatArgs& a) {
    const size_t values = static_cast<size_t>(a.m * a.w->k);
    return values * sizeof(uint16_t) + (a.w->zeros.empty() ? 0 : values / 64 * sizeof(float));
}

void prepare_w4a16_avx512bf16(const GemmFloatArgs& a, int64_t m0, int64_t m1, void* prepared) {
    const int64_t k = a.w->k;
    uint16_t* const xb = static_cast<uint16_t*>(prepared);
    float* const sums = a.w->zeros.empty() ? nullptr : reinterpret_cast<float*>(xb + a.m * k);
    round_rows(a.x, k, m0, m1, avx2::KBlock{0, k, true, true}, xb + m0 * k, sums ? sums + m0 * (k / 64) : nullptr);
}

// Two widened panel slices and their group scales and zeros in fp32.
size_t gemm_w4a16_avx512bf16_scratch(const GemmFloatArgs& /*a*/) {
    return static_cast<size_t>(2 * kKBlock * 16 / 2 + 2 * 2 * kGroups * 16);
}

void gemm_w4a16_avx512bf16(const GemmFloatArgs& a, const Tile& t, float* scratch) {
    uint16_t* const wide = reinterpret_cast<uint16_t*>(scratch);
    float* const scales = scratch + kKBlock * 16;
    float* const zeros = scales + 2 * kGroups * 16;
    // Without zeros the weight is q * scale: q = u - 8 is exact in BF16 too,
    // so the group needs neither X's sum nor the zero's FMA.
    const bool awq = !a.w->zeros.empty();
    const int64_t k = a.w->k, all_groups = k / 64;
    const uint16_t* const xb = static_cast<const uint16_t*>(a.prepared);
    const float* const sums = awq ? reinterpret_cast<const float*>(xb + a.m * k) : nullptr;
    for (int64_t m0 = t.m0; m0 < t.m1; m0 += kRowBlock) {
        const int64_t m1 = std::min(t.m1, m0 + kRowBlock);
        avx2::for_each_k_block(k, kKBlock, [&](const avx2::KBlock& kb) {
            for (int64_t n0 = t.n0; n0 < t.n1; n0 += 32) {
                const int np = n0 + 16 < t.n1 ? 2 : 1;
                for (int c = 0; c < np; ++c) {
                    widen_pairs(*a.w, n0 / 16 + c, kb, awq ? kUnsigned : kSigned, wide + c * kb.kc * 16);
                    widen_groups(a.w->scales, n0 / 16 + c, all_groups, kb, scales + c * kGroups * 16);
                    if (awq) widen_groups(a.w->zeros, n0 / 16 + c, all_groups, kb, zeros + c * kGroups * 16);
                }
                const PanelsArgs pa{xb + m0 * k + kb.k0,
                                    awq ? sums + m0 * all_groups + kb.k0 / 64 : nullptr,
                                    k,
                                    all_groups,
                                    wide,
                                    scales,
                                    zeros,
                                    a.w,
                                    kb,
                                    n0,
                                    static_cast<int>(std::min<int64_t>(32, t.n1 - n0)),
                                    &a.epilogue,
                                    a.y};
                if (np == 2)
                    awq ? block_rows<2, true>(pa, m0, m1) : block_rows<2, false>(pa, m0, m1);
                else
                    awq ? block_rows<1, true>(pa, m0, m1) : block_rows<1, false>(pa, m0, m1);
            }
        });
    }
}

}  // namespace svdq
SVDQ_AVX512BF16_END
