// An independent model of Nunchaku's published packing, for tests only: it
// replays deepcompressor's NunchakuWeightPacker and TinyChat's pack_w4
// (deepcompressor/backend/nunchaku/utils.py, deepcompressor/backend/tinychat/utils.py)
// step by step, as the tensor reshapes and permutes they are written in,
// never through the engine's index formulas. Files built with it are in the
// layout Nunchaku's own converter produces, so reading them back tests the
// engine's unpacker against the published format.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/safetensors_writer.h"
#include "svdquant.h"

namespace svdq::test {

// torch's x.reshape(dims).permute(perm).contiguous() on a flat row-major array.
template <class T>
std::vector<T> reshape_permute(const std::vector<T>& x, const std::vector<int64_t>& dims, const std::vector<int>& perm) {
    const size_t nd = dims.size();
    std::vector<int64_t> in_stride(nd, 1);
    for (size_t i = nd - 1; i > 0; --i) in_stride[i - 1] = in_stride[i] * dims[i];
    std::vector<int64_t> out_dims(nd);
    for (size_t i = 0; i < nd; ++i) out_dims[i] = dims[static_cast<size_t>(perm[i])];
    std::vector<T> out(x.size());
    std::vector<int64_t> coord(nd, 0);  // output coordinates, row-major counter
    for (size_t flat = 0; flat < out.size(); ++flat) {
        int64_t offset = 0;
        for (size_t i = 0; i < nd; ++i) offset += coord[i] * in_stride[static_cast<size_t>(perm[i])];
        out[flat] = x[static_cast<size_t>(offset)];
        for (size_t i = nd; i-- > 0;) {
            if (++coord[i] < out_dims[i]) break;
            coord[i] = 0;
        }
    }
    return out;
}

// deepcompressor's pad(): grow each dimension to a multiple, new cells = fill.
template <class T>
std::vector<T> pad2d(const std::vector<T>& x, int64_t rows, int64_t cols, int64_t row_multiple, int64_t col_multiple,
                     T fill, int64_t* out_rows, int64_t* out_cols) {
    const int64_t pr = (rows + row_multiple - 1) / row_multiple * row_multiple;
    const int64_t pc = (cols + col_multiple - 1) / col_multiple * col_multiple;
    std::vector<T> out(static_cast<size_t>(pr * pc), fill);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) out[static_cast<size_t>(r * pc + c)] = x[static_cast<size_t>(r * cols + c)];
    *out_rows = pr;
    *out_cols = pc;
    return out;
}

// NunchakuWeightPacker(bits=4).pack_weight: int values [n, k] -> int8 bytes.
inline std::vector<uint8_t> ref_pack_weight(const std::vector<int32_t>& w, int64_t n, int64_t k) {
    // (n_tiles, num_n_packs, n_pack_size, num_n_lanes, reg_n, k_tiles, num_k_packs, k_pack_size, num_k_lanes, reg_k)
    const std::vector<int32_t> p =
        reshape_permute(w, {n / 128, 8, 2, 8, 1, k / 64, 1, 2, 4, 8}, {0, 5, 6, 1, 3, 8, 2, 7, 4, 9});
    std::vector<uint8_t> bytes(p.size() / 2);
    for (size_t word = 0; word < p.size() / 8; ++word) {
        uint32_t v = 0;  // weight.bitwise_and_(0xF) << arange(0, 32, 4), summed
        for (int i = 0; i < 8; ++i) v |= (static_cast<uint32_t>(p[word * 8 + static_cast<size_t>(i)]) & 0xFu) << (4 * i);
        std::memcpy(bytes.data() + word * 4, &v, 4);  // .view(int8): little-endian
    }
    return bytes;
}

// pack_scale (group_size > 0 and not micro, or -1 with groups = 1): [n, groups] -> flat.
template <class T>
std::vector<T> ref_pack_scale(const std::vector<T>& s, int64_t n, int64_t groups) {
    // warp_n 128: s_pack_size 4, num_s_lanes 32, num_s_packs 1
    return reshape_permute(s, {n / 128, 1, 8, 2, 4, 2, groups}, {0, 6, 1, 2, 4, 3, 5});
}

// pack_micro_scale (NVFP4, group 16): FP8 bytes [n, groups] -> flat.
inline std::vector<uint8_t> ref_pack_micro_scale(const std::vector<uint8_t>& s, int64_t n, int64_t groups) {
    return reshape_permute(s, {n / 128, 1, 4, 4, 8, groups / 4, 4}, {0, 5, 1, 4, 3, 2, 6});
}

// pack_lowrank_weight: down is [rank, k] (lora_a), up is [n, rank] (lora_b),
// both already padded to multiples of 16.
template <class T>
std::vector<T> ref_pack_lowrank(const std::vector<T>& w, int64_t rows, int64_t cols, bool down) {
    std::vector<T> tiles;
    int64_t c_packs, r_packs;
    if (down) {  // r, c = weight.shape; view(r_packs, 16, c_packs, 16).permute(2, 0, 1, 3)
        r_packs = rows / 16;
        c_packs = cols / 16;
        tiles = reshape_permute(w, {r_packs, 16, c_packs, 16}, {2, 0, 1, 3});
    } else {  // c, r = weight.shape; view(c_packs, 16, r_packs, 16).permute(0, 2, 1, 3)
        c_packs = rows / 16;
        r_packs = cols / 16;
        tiles = reshape_permute(w, {c_packs, 16, r_packs, 16}, {0, 2, 1, 3});
    }
    // (c_packs, r_packs, n_pack_size, num_n_lanes, reg_n, k_pack_size, num_k_lanes, reg_k)
    return reshape_permute(tiles, {c_packs, r_packs, 2, 8, 1, 2, 4, 2}, {0, 1, 3, 6, 2, 5, 4, 7});
}

// TinyChat pack_w4: unsigned values [oc, ic] -> int16 words (as bytes), shape [oc / 4, ic].
inline std::vector<uint8_t> ref_pack_awq(const std::vector<int32_t>& w, int64_t oc, int64_t ic) {
    std::vector<uint16_t> words(static_cast<size_t>(oc * ic / 4));
    for (size_t chunk = 0; chunk < words.size() / 8; ++chunk)  // weight.view(-1, 4, 8)
        for (size_t j = 0; j < 8; ++j) {
            const int32_t* c = w.data() + chunk * 32;
            words[chunk * 8 + j] = static_cast<uint16_t>(c[j] | (c[8 + j] << 4) | (c[16 + j] << 8) | (c[24 + j] << 12));
        }
    const std::vector<uint16_t> p = reshape_permute(words, {oc / 4, 4, ic / 64, 16}, {0, 2, 1, 3});
    std::vector<uint8_t> bytes(p.size() * 2);
    std::memcpy(bytes.data(), p.data(), bytes.size());
    return bytes;
}

// convert_to_nunchaku_w4x16_linear_weight's adanorm_splits: rows viewed as
// [splits, oc / splits, ...] and transposed to [oc / splits, splits, ...].
template <class T>
std::vector<T> ref_interleave_rows(const std::vector<T>& x, int64_t oc, int64_t row_len, int64_t splits) {
    return reshape_permute(x, {splits, oc / splits, row_len}, {1, 0, 2});
}

inline std::vector<uint8_t> bf16_bytes(const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t h = float_to_bf16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

// The known values of one W4A4 layer before Nunchaku's converter touches them
// (deepcompressor's convert_to_nunchaku_w4x4y16_linear_weight inputs).
struct ReferenceW4A4 {
    int64_t n = 0, k = 0, rank = 0;
    bool nvfp4 = false;
    std::vector<int32_t> q;          // [n, k]: INT4 -8..7, or E2M1 codes 0..15
    std::vector<float> scales;       // INT4: [n, k/64] (bf16 values)
    std::vector<uint8_t> micro;      // NVFP4: [n, k/16] E4M3 bytes
    std::vector<float> wcscales;     // NVFP4: [n]
    float wtscale = 1.0f;            // NVFP4: written as a BF16 `wtscale` [1] unless 1
    std::vector<float> bias;         // [n]
    std::vector<float> smooth;       // [k]: the smoothing factor (`smooth_orig`)
    bool smooth_fused = false;       // folded into the previous layer (out_proj into V): `smooth` stored as ones
    std::vector<float> down;         // [rank, k], reading the input as it arrives
    std::vector<float> up;           // [n, rank]
};

// Adds the layer the way deepcompressor's converter writes it (v0 names;
// convert_to_nunchaku_w4x4y16_linear_state_dict: smooth_orig = smooth, and
// smooth = ones when smooth_fused).
inline void add_reference_w4a4(SafeTensorsWriter& w, const std::string& prefix, const ReferenceW4A4& l) {
    int64_t np, kp, r, c;
    const int64_t group = l.nvfp4 ? 16 : 64;
    // pad_weight: divisor (mem_n 128, mem_k * num_k_unrolls 128), fill 0
    const std::vector<int32_t> q = pad2d(l.q, l.n, l.k, 128, 128, 0, &np, &kp);
    w.add(prefix + ".qweight", SVDQ_DTYPE_I8, {np, kp / 2}, ref_pack_weight(q, np, kp));
    if (!l.nvfp4) {
        const std::vector<float> s = pad2d(l.scales, l.n, l.k / group, 128, 2, 1.0f, &r, &c);
        w.add(prefix + ".wscales", SVDQ_DTYPE_BF16, {c, r}, bf16_bytes(ref_pack_scale(s, r, c)));
    } else {
        // pad_scale pads micro scales to a multiple of insn_k / 16 = 4 groups while
        // pad_weight pads K to 128: the two agree only for K a multiple of 128
        // (Nunchaku's GEMM_W4A4 wants [K_pad / 16, N_pad]), as every FLUX.1 K is.
        if (l.k % 128 != 0) throw std::invalid_argument("deepcompressor's NVFP4 layout needs K a multiple of 128");
        const std::vector<uint8_t> s = pad2d(l.micro, l.n, l.k / group, 128, 4, uint8_t{0x38}, &r, &c);
        w.add(prefix + ".wscales", SVDQ_DTYPE_F8_E4M3, {c, r}, ref_pack_micro_scale(s, r, c));
        const std::vector<float> cs = pad2d(l.wcscales, l.n, 1, 128, 1, 1.0f, &r, &c);
        w.add(prefix + ".wcscales", SVDQ_DTYPE_BF16, {r}, bf16_bytes(ref_pack_scale(cs, r, 1)));
        // A per-tensor scale: scale.view(-1)[0].view([1]) in the layer's dtype.
        if (l.wtscale != 1.0f) w.add(prefix + ".wtscale", SVDQ_DTYPE_BF16, {1}, bf16_bytes({l.wtscale}));
    }
    const std::vector<float> bias = pad2d(l.bias, l.n, 1, 128, 1, 1.0f, &r, &c);
    w.add(prefix + ".bias", SVDQ_DTYPE_BF16, {r}, bf16_bytes(ref_pack_scale(bias, r, 1)));
    const std::vector<float> smooth = pad2d(l.smooth, l.k, 1, 128, 1, 1.0f, &r, &c);
    const std::vector<float> stored_smooth = l.smooth_fused ? std::vector<float>(smooth.size(), 1.0f) : smooth;
    w.add(prefix + ".smooth", SVDQ_DTYPE_BF16, {r}, bf16_bytes(ref_pack_scale(stored_smooth, r, 1)));
    w.add(prefix + ".smooth_orig", SVDQ_DTYPE_BF16, {r}, bf16_bytes(ref_pack_scale(smooth, r, 1)));
    // pad_lowrank_weight (k or n to 128), then pack_lowrank_weight pads both dims to 16
    int64_t dr, dc, ur, uc;
    const std::vector<float> down0 = pad2d(l.down, l.rank, l.k, 1, 128, 0.0f, &dr, &dc);
    const std::vector<float> down = pad2d(down0, dr, dc, 16, 16, 0.0f, &dr, &dc);
    w.add(prefix + ".lora_down", SVDQ_DTYPE_BF16, {dc, dr}, bf16_bytes(ref_pack_lowrank(down, dr, dc, true)));
    const std::vector<float> up0 = pad2d(l.up, l.n, l.rank, 128, 1, 0.0f, &ur, &uc);
    const std::vector<float> up = pad2d(up0, ur, uc, 16, 16, 0.0f, &ur, &uc);
    w.add(prefix + ".lora_up", SVDQ_DTYPE_BF16, {ur, uc}, bf16_bytes(ref_pack_lowrank(up, ur, uc, false)));
}

// The known values of an adaLN W4A16 layer in diffusers' row order.
struct ReferenceAdaNorm {
    int64_t n = 0, k = 0, chunks = 6;
    std::vector<int32_t> q;      // [n, k] unsigned 0..15
    std::vector<float> scales;   // [n, k/64]
    std::vector<float> zeros;    // [n, k/64]: value = q * scale + zero
    std::vector<float> bias;     // [n]
    // TinyChat's converter stores ceil_num_groups(k) rows of scales and zeros,
    // the extra ones zero; false gives the [k/64, n] that Nunchaku's loaders declare.
    bool pad_groups = true;
};

// deepcompressor/backend/tinychat/utils.py ceil_num_groups(in_features, 64, 4):
// groups packed 8 per int32, packs rounded up to a multiple of 2.
inline int64_t tinychat_groups(int64_t k) {
    const int64_t packs = (k / 64 + 7) / 8;
    return (packs + 1) / 2 * 2 * 8;
}

// convert_to_nunchaku_w4x16_linear_weight with adanorm_splits = chunks, through
// convert_to_tinychat_w4x16y16_linear_weight.
inline void add_reference_adanorm(SafeTensorsWriter& w, const std::string& prefix, const ReferenceAdaNorm& l) {
    const int64_t groups = l.k / 64;
    const std::vector<int32_t> q = ref_interleave_rows(l.q, l.n, l.k, l.chunks);
    const std::vector<float> s = ref_interleave_rows(l.scales, l.n, groups, l.chunks);
    const std::vector<float> z = ref_interleave_rows(l.zeros, l.n, groups, l.chunks);
    std::vector<float> bias = ref_interleave_rows(l.bias, l.n, 1, l.chunks);
    for (int64_t i = 0; i < l.n; ++i) {
        const int64_t chunk = i % l.chunks;  // delta[1] = delta[-2] = 1
        if (chunk == 1 || chunk == l.chunks - 2) bias[static_cast<size_t>(i)] += 1.0f;
    }
    w.add(prefix + ".qweight", SVDQ_DTYPE_I32, {l.n / 4, l.k / 2}, ref_pack_awq(q, l.n, l.k));
    // scales and zeros are stored transposed, [groups, n], in a zeroed [_ng, n]
    const int64_t stored_groups = l.pad_groups ? tinychat_groups(l.k) : groups;
    std::vector<float> st = reshape_permute(s, {l.n, groups}, {1, 0}), zt = reshape_permute(z, {l.n, groups}, {1, 0});
    st.resize(static_cast<size_t>(stored_groups * l.n), 0.0f);
    zt.resize(static_cast<size_t>(stored_groups * l.n), 0.0f);
    w.add(prefix + ".wscales", SVDQ_DTYPE_BF16, {stored_groups, l.n}, bf16_bytes(st));
    w.add(prefix + ".wzeros", SVDQ_DTYPE_BF16, {stored_groups, l.n}, bf16_bytes(zt));
    w.add(prefix + ".bias", SVDQ_DTYPE_BF16, {l.n}, bf16_bytes(bias));
}

// Random known values for the reference builders: INT4 (-8..7) or E2M1
// codes, BF16-exact floats, finite E4M3 scales.
inline ReferenceW4A4 random_reference_w4a4(int64_t n, int64_t k, int64_t rank, bool nvfp4, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> value(nvfp4 ? 0 : -8, nvfp4 ? 15 : 7);
    std::uniform_real_distribution<float> uniform(0, 1);
    const auto floats = [&](int64_t count, float lo, float hi) {
        std::vector<float> v(static_cast<size_t>(count));
        for (float& x : v) x = round_to_bf16(lo + (hi - lo) * uniform(rng));
        return v;
    };
    ReferenceW4A4 l;
    l.n = n;
    l.k = k;
    l.rank = rank;
    l.nvfp4 = nvfp4;
    l.q.resize(static_cast<size_t>(n * k));
    for (int32_t& v : l.q) v = value(rng);
    if (nvfp4) {
        std::uniform_int_distribution<int> e4m3(0x20, 0x48);  // about 0.03 .. 4
        for (int64_t i = 0; i < n * k / 16; ++i) l.micro.push_back(static_cast<uint8_t>(e4m3(rng)));
        l.wcscales = floats(n, 0.5f, 2);
    } else {
        l.scales = floats(n * k / 64, 0.01f, 0.1f);
    }
    l.bias = floats(n, -1, 1);
    l.smooth = floats(k, 0.5f, 3);
    l.down = floats(rank * k, -1, 1);
    l.up = floats(n * rank, -1, 1);
    return l;
}

inline ReferenceAdaNorm random_reference_adanorm(int64_t chunks, int64_t per_chunk, int64_t k, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> nibble(0, 15), sixty_fourths(-64, 64);
    std::uniform_real_distribution<float> uniform(0, 1);
    ReferenceAdaNorm l;
    l.chunks = chunks;
    l.n = chunks * per_chunk;
    l.k = k;
    l.q.resize(static_cast<size_t>(l.n * k));
    for (int32_t& v : l.q) v = nibble(rng);
    for (int64_t i = 0; i < l.n * k / 64; ++i) {
        l.scales.push_back(round_to_bf16(0.01f + 0.09f * uniform(rng)));
        l.zeros.push_back(round_to_bf16(-7.0f * l.scales.back()));
    }
    // Multiples of 1/64 in [-1, 1] stay exact in BF16 after Nunchaku adds 1.
    for (int64_t i = 0; i < l.n; ++i) l.bias.push_back(static_cast<float>(sixty_fourths(rng)) / 64.0f);
    return l;
}

}  // namespace svdq::test
