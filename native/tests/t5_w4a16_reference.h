// Test-only references for the 4-bit T5 encoder, written from published
// definitions and sharing no code with the engine:
// - T5EncoderModel (v1.1) in float64 (modeling_t5.py) for any size, on
//   tensors given by name, so a test can hand it the dequantized weights;
// - INT4 group-64 RTN as docs/architecture.md defines the engine's W4A16
//   (scale = absmax / 7 rounded to BF16, level = clamp(round-half-even(x *
//   (7 / absmax)), -8, 7));
// - Nunchaku's W4Linear layout (nunchaku/models/text_encoders/linear.py and
//   tinychat_utils.py): qweight I16 [oc / 4, ic] by TinyChat's pack_w4
//   (nunchaku_reference_packer.h), scales and scaled_zeros [ceil_num_groups, oc].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/safetensors_writer.h"
#include "nunchaku_reference_packer.h"
#include "svdquant.h"
#include "text_encoder_fixture.h"
#include "text_encoder_reference.h"

namespace svdq::test {

struct T5Dims {
    int64_t vocab = 40, d_model = 128, d_kv = 48, heads = 4, d_ff = 256, layers = 2, buckets = 16, max_distance = 20;
    int64_t inner() const { return d_kv * heads; }
};

inline std::string t5_config_json(const T5Dims& d) {
    const auto field = [](const char* key, int64_t v) { return "\"" + std::string(key) + "\": " + std::to_string(v) + ", "; };
    return "{\"architectures\": [\"T5EncoderModel\"], \"model_type\": \"t5\", " + field("vocab_size", d.vocab) +
           field("d_model", d.d_model) + field("d_kv", d.d_kv) + field("d_ff", d.d_ff) + field("num_layers", d.layers) +
           field("num_heads", d.heads) + field("relative_attention_num_buckets", d.buckets) +
           field("relative_attention_max_distance", d.max_distance) +
           "\"layer_norm_epsilon\": 1e-06, \"feed_forward_proj\": \"gated-gelu\", \"is_gated_act\": true, "
           "\"dense_act_fn\": \"gelu_new\", \"tie_word_embeddings\": false}";
}

// The names of block i's linears (without ".weight"), their [out, in].
struct RefLinear {
    std::string name;
    int64_t out, in;
};
inline std::vector<RefLinear> t5_ref_linears(const T5Dims& d, int64_t i) {
    const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
    return {{p + "0.SelfAttention.q", d.inner(), d.d_model},  {p + "0.SelfAttention.k", d.inner(), d.d_model},
            {p + "0.SelfAttention.v", d.inner(), d.d_model},  {p + "0.SelfAttention.o", d.d_model, d.inner()},
            {p + "1.DenseReluDense.wi_0", d.d_ff, d.d_model}, {p + "1.DenseReluDense.wi_1", d.d_ff, d.d_model},
            {p + "1.DenseReluDense.wo", d.d_model, d.d_ff}};
}

// Scores of order 1 without T5's 1/sqrt(d) (q and k entries of about 0.5
// over 48 dimensions), a position bias of that order, norm weights away from
// 1: every part moves the output.
inline TestTensors t5_random_tensors(const T5Dims& d) {
    TestTensors t;
    add_random(t, "shared.weight", {d.vocab, d.d_model}, 1.0f);
    add_random(t, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {d.buckets, d.heads}, 1.0f);
    for (int64_t i = 0; i < d.layers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        add_random(t, p + "0.layer_norm.weight", {d.d_model}, 0.3f, 1.0f);
        add_random(t, p + "1.layer_norm.weight", {d.d_model}, 0.3f, 1.0f);
        for (const RefLinear& l : t5_ref_linears(d, i)) {
            const bool score = l.name.back() == 'q' || l.name.back() == 'k';
            add_random(t, l.name + ".weight", {l.out, l.in}, (score ? 0.5f : 1.0f) / std::sqrt(float(l.in)));
        }
    }
    add_random(t, "encoder.final_layer_norm.weight", {d.d_model}, 0.3f, 1.0f);
    return t;
}

// `count` BF16 values of about N(mean, stddev^2) as bytes: an xorshift sum
// of four uniforms, fast enough for T5-XXL's 4.7 billion.
inline std::vector<uint8_t> bf16_random(int64_t count, uint64_t seed, float stddev, float mean) {
    std::vector<uint8_t> bytes(static_cast<size_t>(count) * 2);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < count; ++i) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const float sum = float(s & 0xFFFF) + float((s >> 16) & 0xFFFF) + float((s >> 32) & 0xFFFF) + float(s >> 48);
        const uint16_t h = float_to_bf16(mean + stddev * (sum / 65536.0f - 2.0f) * 1.7320508f);  // variance 4 / 12 -> 1
        std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    return bytes;
}

// _relative_position_bucket (bidirectional) from its definition.
inline int64_t ref_t5_bucket(int64_t rp, int64_t buckets, int64_t max_distance) {
    const int64_t half = buckets / 2, exact = half / 2;
    const int64_t base = rp > 0 ? half : 0, distance = std::llabs(rp);
    if (distance < exact) return base + distance;
    const double large =
        exact + std::floor(std::log(double(distance) / exact) / std::log(double(max_distance) / exact) * (half - exact));
    return base + std::min<int64_t>(static_cast<int64_t>(large), half - 1);
}

// T5Stack.forward of the encoder in float64 without a mask, ids [batch, length]:
// [batch * length, d_model]. Linear weights are `<name>.weight` of t.
inline Rows ref_t5_encoder(const T5Dims& d, const TestTensors& t, const std::vector<int64_t>& ids, int64_t batch) {
    const auto w = [&](const std::string& name) -> const std::vector<float>& { return t.at(name).values; };
    const int64_t rows = static_cast<int64_t>(ids.size()), length = rows / batch, inner = d.inner();
    Rows x(static_cast<size_t>(rows * d.d_model));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < d.d_model; ++j)
            x[static_cast<size_t>(r * d.d_model + j)] = w("shared.weight")[static_cast<size_t>(ids[static_cast<size_t>(r)] * d.d_model + j)];
    const std::vector<float>& table = w("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    const auto bias = [&](int64_t h, int64_t i, int64_t j) {
        return double(table[static_cast<size_t>(ref_t5_bucket(j - i, d.buckets, d.max_distance) * d.heads + h)]);
    };
    for (int64_t i = 0; i < d.layers; ++i) {
        const std::vector<RefLinear> l = t5_ref_linears(d, i);
        const auto apply = [&](const Rows& in, size_t j) { return ref_linear(in, rows, l[j].in, w(l[j].name + ".weight"), l[j].out); };
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        Rows h = ref_rms_norm(x, d.d_model, w(p + "0.layer_norm.weight"), 1e-6);
        const Rows q = apply(h, 0), k = apply(h, 1), v = apply(h, 2);
        Rows a(static_cast<size_t>(rows * inner));
        for (int64_t b = 0; b < batch; ++b) {
            const auto item = [&](const Rows& m) { return Rows(m.begin() + b * length * inner, m.begin() + (b + 1) * length * inner); };
            const Rows ab = ref_attention(item(q), item(k), item(v), length, d.heads, d.d_kv, 1.0, /*causal=*/false, bias);
            std::copy(ab.begin(), ab.end(), a.begin() + b * length * inner);
        }
        ref_add(x, apply(a, 3));
        h = ref_rms_norm(x, d.d_model, w(p + "1.layer_norm.weight"), 1e-6);
        Rows gate = apply(h, 4);
        const Rows up = apply(h, 5);
        for (size_t e = 0; e < gate.size(); ++e) gate[e] = gelu_tanh_ref(gate[e]) * up[e];
        ref_add(x, apply(gate, 6));
    }
    return ref_rms_norm(x, d.d_model, w("encoder.final_layer_norm.weight"), 1e-6);
}

// One weight [n, k] quantized to INT4 in groups of 64 by the definition:
// levels q [n, k] (-8..7) and scales [n, k / 64].
struct RefInt4 {
    int64_t n = 0, k = 0;
    std::vector<int32_t> q;
    std::vector<float> scales;
    std::vector<float> values() const {  // q * scale
        std::vector<float> v(q.size());
        for (size_t i = 0; i < q.size(); ++i) {
            const size_t row = i / static_cast<size_t>(k), group = i % static_cast<size_t>(k) / 64;
            v[i] = static_cast<float>(q[i]) * scales[row * static_cast<size_t>(k / 64) + group];
        }
        return v;
    }
};
inline RefInt4 ref_int4_quantize(const std::vector<float>& w, int64_t n, int64_t k) {
    RefInt4 r;
    r.n = n;
    r.k = k;
    r.q.resize(w.size());
    for (int64_t row = 0; row < n; ++row)
        for (int64_t g = 0; g < k / 64; ++g) {
            const float* x = w.data() + row * k + g * 64;
            float absmax = 0.0f;
            for (int j = 0; j < 64; ++j) absmax = std::max(absmax, std::fabs(x[j]));
            r.scales.push_back(round_to_bf16(absmax / 7.0f));
            const float inverse = absmax > 0.0f ? 7.0f / absmax : 0.0f;
            for (int j = 0; j < 64; ++j)
                r.q[static_cast<size_t>(row * k + g * 64 + j)] =
                    static_cast<int32_t>(std::clamp(std::nearbyint(x[j] * inverse), -8.0f, 7.0f));
        }
    return r;
}

// TinyChat's ceil_num_groups(in_features, group_size, 4) (tinychat_utils.py).
inline int64_t ref_ceil_num_groups(int64_t in_features, int64_t group_size) {
    const int64_t num_groups = in_features / group_size, pack_size = 8;
    int64_t num_packs = (num_groups + pack_size - 1) / pack_size;
    const int64_t factor = group_size >= 128 ? 1 : group_size == 64 ? 2 : 4;
    num_packs = (num_packs + factor - 1) / factor * factor;
    return num_packs * pack_size;
}

// A W4Linear's tensors as Nunchaku's from_linear / convert_to_tinychat_w4x16y16_linear_weight
// store them, from unsigned levels q_u [oc, ic] (0..15), scales and zeros
// [oc, ic / group] with value = q_u * scale + zero (Nunchaku keeps
// scaled_zeros = -zero of its positive offset, the same thing).
struct RefW4Linear {
    std::vector<uint8_t> qweight, scales, scaled_zeros;  // I16 [oc/4, ic]; BF16 [ceil_num_groups, oc] each
    std::vector<int64_t> qweight_shape, group_shape;
};
inline RefW4Linear ref_w4linear(const std::vector<int32_t>& q_u, const std::vector<float>& scales, const std::vector<float>& zeros,
                                int64_t oc, int64_t ic, int64_t group) {
    const int64_t ng = ic / group, stored = ref_ceil_num_groups(ic, group);
    std::vector<float> s(static_cast<size_t>(stored * oc), 0.0f), z(s.size(), 0.0f);  // _scale[:ng] = scale.t(); zeros after
    for (int64_t o = 0; o < oc; ++o)
        for (int64_t g = 0; g < ng; ++g) {
            s[static_cast<size_t>(g * oc + o)] = scales[static_cast<size_t>(o * ng + g)];
            z[static_cast<size_t>(g * oc + o)] = zeros[static_cast<size_t>(o * ng + g)];
        }
    return {ref_pack_awq(q_u, oc, ic), bf16_bytes(s), bf16_bytes(z), {oc / 4, ic}, {stored, oc}};
}

inline void add_ref_w4linear(SafeTensorsWriter& w, const std::string& prefix, const RefW4Linear& l) {
    w.add(prefix + ".qweight", SVDQ_DTYPE_I16, l.qweight_shape, l.qweight);
    w.add(prefix + ".scales", SVDQ_DTYPE_BF16, l.group_shape, l.scales);
    w.add(prefix + ".scaled_zeros", SVDQ_DTYPE_BF16, l.group_shape, l.scaled_zeros);
}

}  // namespace svdq::test
