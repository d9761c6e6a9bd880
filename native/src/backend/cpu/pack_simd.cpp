// Weight layouts of the AVX2 and AVX-512 kernels, made once at load time.
// Plain C++: packing runs on any CPU.
#include "backend/cpu/cpu_kernels.h"
#include "core/half.h"

namespace svdq {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// [n, k] as panels of `width` columns, k-major: [n/width][k][width], zero
// padded, each value stored as T.
template <class T, class Convert>
PackedWeights pack_panels(const float* w, int64_t n, int64_t k, int64_t width, Convert convert) {
    PackedWeights p = allocate_packed(n, k, static_cast<size_t>(round_up(n, width) * k) * sizeof(T));
    T* out = static_cast<T*>(p.data.get());
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) out[(i / width) * k * width + j * width + i % width] = convert(w[i * k + j]);
    return p;
}

float as_is(float v) { return v; }

// W4A4 in panels of `width` columns: for each 8 k, width * 4 bytes: byte
// 4c + i holds w + 8 of column c at k + i in its low nibble and at k + 4 + i
// in its high nibble, so one load and two and/shift give the u8 operands of
// two k-quads (vpmaddubsw's, or vpdpbusd's: four bytes per int32 lane).
// Scales [n/width][k/64][width].
PackedWeights pack_w4a4_panels(const Int4Matrix& w, int64_t width) {
    const int64_t n = w.rows, k = w.cols, groups = w.groups(), np = round_up(n, width);
    PackedWeights p = allocate_packed(n, k, static_cast<size_t>(np * k / 2));
    uint8_t* out = p.mutable_bytes();
    for (int64_t i = 0; i < np; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const int u = i < n ? int4_at(w.row(i), j) + 8 : 8;
            const int64_t chunk = j / 8, within = j % 8;
            uint8_t& byte = out[(i / width) * k * (width / 2) + chunk * width * 4 + (i % width) * 4 + within % 4];
            byte |= static_cast<uint8_t>(u << (within / 4 * 4));
        }
    p.scales.assign(static_cast<size_t>(np * groups), 0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t g = 0; g < groups; ++g)
            p.scales[static_cast<size_t>((i / width) * groups * width + g * width + i % width)] = float_to_bf16(w.row_scales(i)[g]);
    return p;
}

}  // namespace

// Float and BF16: panels of 16 columns, k-major: [n/16][k][16].
PackedWeights pack_f32_avx2(const float* w, int64_t n, int64_t k) { return pack_panels<float>(w, n, k, 16, as_is); }
PackedWeights pack_bf16_avx2(const float* w, int64_t n, int64_t k) { return pack_panels<uint16_t>(w, n, k, 16, float_to_bf16); }

// W4A16: nibbles w + 8 (0..15) in panels of 16 columns, k-major, 8 bytes per
// k (column 2b in the low nibble of byte b, 2b + 1 in the high one);
// scales, and zeros when given, [n/16][k/64][16].
PackedWeights pack_w4a16_avx2(const Int4Matrix& w, const float* zeros) {
    const int64_t n = w.rows, k = w.cols, groups = w.groups(), np = round_up(n, 16);
    PackedWeights p = allocate_packed(n, k, static_cast<size_t>(np * k / 2));
    uint8_t* out = p.mutable_bytes();
    for (int64_t i = 0; i < np; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const int u = i < n ? int4_at(w.row(i), j) + 8 : 8;
            out[(i / 16) * k * 8 + j * 8 + (i % 16) / 2] |= static_cast<uint8_t>(u << ((i % 2) * 4));
        }
    p.scales.assign(static_cast<size_t>(np * groups), 0);
    if (zeros != nullptr) p.zeros.assign(p.scales.size(), 0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t g = 0; g < groups; ++g) {
            const size_t at = static_cast<size_t>((i / 16) * groups * 16 + g * 16 + i % 16);
            p.scales[at] = float_to_bf16(w.row_scales(i)[g]);
            if (zeros != nullptr) p.zeros[at] = float_to_bf16(zeros[i * groups + g]);
        }
    return p;
}

PackedWeights pack_w4a4_avx2(const Int4Matrix& w) { return pack_w4a4_panels(w, 8); }
PackedWeights pack_w4a4_avx512(const Int4Matrix& w) { return pack_w4a4_panels(w, 16); }

}  // namespace svdq
