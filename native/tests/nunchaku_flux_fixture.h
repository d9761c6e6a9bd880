// Complete quantized FLUX checkpoints of flux-tiny's shape (test data
// data/flux-tiny) whose block linears hold known values: embedders, norms and
// proj_out are flux-tiny's float tensors; every block linear is a W4A4 or AWQ
// W4A16 layer of seeded values, written either by the independent reference
// packer (deepcompressor's converter replayed, Nunchaku v0 names) or by the
// engine's own Nunchaku writer (either key style). The returned KnownLinear
// list is what each quantized linear computes (nunchaku_layer_math.h), in
// the order a forward runs them.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/context.h"
#include "cpu_levels.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "formats/nunchaku_flux_layout.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_metadata.h"
#include "formats/nunchaku_w4a16_linear.h"
#include "nunchaku_layer_math.h"
#include "nunchaku_reference_packer.h"
#include "test_util.h"

namespace svdq::test {

inline const std::string& flux_tiny_dir() {
    static const std::string dir = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
    return dir;
}

enum class FluxFileStyle {
    Reference,      // the reference packer: what deepcompressor's converter writes (v0 names)
    OursV0,         // the engine's Nunchaku writer, v0 names
    OursDiffusers,  // the engine's Nunchaku writer, diffusers-style names
};

struct FluxFixtureOptions {
    FluxFileStyle style = FluxFileStyle::Reference;
    bool nvfp4 = false;
    // deepcompressor's smooth_linear_modules with fuse_when_possible: the
    // out_proj smoothing divides the V rows of qkv (weights, branch, bias) and
    // the file stores smooth = 1 with the factor in smooth_orig.
    bool fold_out_proj = false;
    // Every block linear besides the adaLN ones an AWQ W4A16 layer in
    // diffusers' row order (the W4A16 model; no quantization_config then).
    bool w4a16_blocks = false;
};

namespace flux_fixture_detail {

constexpr int64_t kDim = 64, kRank = 32;  // flux-tiny: 4 heads of 16

// Known values of magnitudes that keep a 4-block forward in range and give
// the main path, the branch and the bias comparable shares of the output.
inline ReferenceW4A4 w4a4_values(int64_t n, int64_t k, bool nvfp4, uint64_t seed) {
    ReferenceW4A4 l = random_reference_w4a4(n, k, kRank, nvfp4, seed);
    for (float& v : l.down) v *= 0.25f;  // powers of two: still BF16 values
    for (float& v : l.up) v *= 0.25f;
    if (nvfp4) l.wtscale = round_to_bf16(0.1f);
    return l;
}

// out_proj's smoothing, powers of two so that folding it into V is exact.
inline std::vector<float> out_proj_smooth() {
    std::vector<float> s(static_cast<size_t>(kDim));
    for (size_t c = 0; c < s.size(); ++c) s[c] = std::ldexp(1.0f, static_cast<int>(c % 4) - 1);  // 0.5, 1, 2, 4
    return s;
}

// Divides the V rows [2 dim, 3 dim) of a qkv layer by s: exact for powers of two.
inline void fold_into_v(ReferenceW4A4& qkv, const std::vector<float>& s) {
    for (int64_t row = 2 * kDim; row < 3 * kDim; ++row) {
        const float f = s[static_cast<size_t>(row - 2 * kDim)];
        if (qkv.nvfp4) {
            qkv.wcscales[static_cast<size_t>(row)] /= f;
        } else {
            for (int64_t g = 0; g < qkv.k / 64; ++g) qkv.scales[static_cast<size_t>(row * (qkv.k / 64) + g)] /= f;
        }
        for (int64_t r = 0; r < qkv.rank; ++r) qkv.up[static_cast<size_t>(row * qkv.rank + r)] /= f;
        qkv.bias[static_cast<size_t>(row)] /= f;
    }
}

// out_proj reading attention output that is already divided by s.
inline void fold_out_proj(ReferenceW4A4& out, const std::vector<float>& s) {
    out.smooth = s;
    out.smooth_fused = true;
    for (int64_t r = 0; r < out.rank; ++r)
        for (int64_t c = 0; c < out.k; ++c) out.down[static_cast<size_t>(r * out.k + c)] *= s[static_cast<size_t>(c)];
}

// The engine's in-memory Nunchaku layer holding the same values.
inline NunchakuLinear as_nunchaku_linear(const ReferenceW4A4& l) {
    NunchakuLinear n;
    n.format = l.nvfp4 ? SVDQ_FORMAT_NVFP4 : SVDQ_FORMAT_INT4;
    n.out_features = l.n;
    n.in_features = l.k;
    n.rank = l.rank;
    std::vector<uint8_t> packed(static_cast<size_t>(l.n * l.k / 2));
    for (size_t i = 0; i < packed.size(); ++i)
        packed[i] = static_cast<uint8_t>((l.q[2 * i] & 0xF) | ((l.q[2 * i + 1] & 0xF) << 4));
    if (l.nvfp4) {
        n.nvfp4 = {l.n, l.k, packed, l.micro};
        n.channel_scales = l.wcscales;
        n.tensor_scale = l.wtscale;
    } else {
        n.int4 = {l.n, l.k, packed, l.scales};
    }
    n.bias = l.bias;
    n.smooth = l.smooth_fused ? std::vector<float>(l.smooth.size(), 1.0f) : l.smooth;
    n.smooth_orig = l.smooth;
    n.lora_down = l.down;
    n.lora_up = l.up;
    return n;
}

// The AWQ layer with its rows as given.
inline NunchakuW4A16Linear as_nunchaku_w4a16(const ReferenceAdaNorm& l) {
    NunchakuW4A16Linear a;
    a.out_features = l.n;
    a.in_features = l.k;
    a.packed.resize(static_cast<size_t>(l.n * l.k / 2));
    for (size_t i = 0; i < a.packed.size(); ++i) a.packed[i] = static_cast<uint8_t>(l.q[2 * i] | (l.q[2 * i + 1] << 4));
    a.scales = l.scales;
    a.zeros = l.zeros;
    a.bias = l.bias;
    return a;
}

// The AWQ layer in Nunchaku's file order (rows interleaved, +1 in the scale chunks' bias).
inline NunchakuW4A16Linear as_nunchaku_adanorm(const ReferenceAdaNorm& l) {
    return adanorm_to_nunchaku(as_nunchaku_w4a16(l), static_cast<int>(l.chunks));
}

struct Writer {
    SafeTensorsWriter& w;
    const FluxFixtureOptions& o;
    std::vector<KnownLinear>& known;
    uint64_t seed = 100;

    nunchaku::Keys keys() const { return o.style == FluxFileStyle::OursDiffusers ? nunchaku::Keys::Diffusers : nunchaku::Keys::V0; }

    std::string name(const std::string& block, bool single, const char* v0) const {
        return block + nunchaku::layer_named(single, v0).in(keys());
    }

    void add(const std::string& block, bool single, const char* v0, const ReferenceW4A4& l, bool gelu = false,
             bool fc2 = false) {
        const std::string prefix = name(block, single, v0);
        if (o.w4a16_blocks) {
            const ReferenceAdaNorm a = random_reference_adanorm(1, l.n, l.k, seed++);
            add_nunchaku_w4a16_linear(w, prefix, as_nunchaku_w4a16(a));
            KnownLinear k = known_w4a16(prefix, a);
            k.gelu = gelu;
            known.push_back(k);
            return;
        }
        if (o.style == FluxFileStyle::Reference)
            add_reference_w4a4(w, prefix, l);
        else
            add_nunchaku_linear(w, prefix, as_nunchaku_linear(l), keys());
        KnownLinear k = known_w4a4(prefix, l);
        if (fc2 && !l.nvfp4) k = with_unsigned_shifted_input(k);  // Nunchaku's INT4 mlp_fc2 input
        k.gelu = gelu;
        known.push_back(k);
    }

    void add_adanorm(const std::string& block, bool single, const char* v0, int64_t chunks) {
        const ReferenceAdaNorm l = random_reference_adanorm(chunks, kDim, kDim, seed++);
        const std::string prefix = name(block, single, v0);
        if (o.style == FluxFileStyle::Reference)
            add_reference_adanorm(w, prefix, l);  // with TinyChat's padded scale groups (1 -> 16)
        else
            add_nunchaku_w4a16_linear(w, prefix, as_nunchaku_adanorm(l));
        known.push_back(known_w4a16(prefix, l));
    }

    ReferenceW4A4 values(int64_t n, int64_t k) { return w4a4_values(n, k, o.nvfp4, seed++); }

    void double_block(int64_t i) {
        const std::string b = "transformer_blocks." + std::to_string(i) + ".";
        add_adanorm(b, false, "norm1.linear", 6);
        add_adanorm(b, false, "norm1_context.linear", 6);
        ReferenceW4A4 qkv = values(3 * kDim, kDim), qkv_context = values(3 * kDim, kDim);
        ReferenceW4A4 out = values(kDim, kDim), out_context = values(kDim, kDim);
        const std::vector<float> s = out_proj_smooth();  // one factor for both, as deepcompressor's smooth_name_map
        out.smooth = out_context.smooth = s;
        if (o.fold_out_proj) {
            fold_into_v(qkv, s);
            fold_into_v(qkv_context, s);
            fold_out_proj(out, s);
            fold_out_proj(out_context, s);
        }
        add(b, false, "qkv_proj", qkv);
        add(b, false, "qkv_proj_context", qkv_context);
        add(b, false, "out_proj", out);
        add(b, false, "out_proj_context", out_context);
        add(b, false, "mlp_fc1", values(4 * kDim, kDim), true);
        add(b, false, "mlp_fc2", values(kDim, 4 * kDim), false, true);
        add(b, false, "mlp_context_fc1", values(4 * kDim, kDim), true);
        add(b, false, "mlp_context_fc2", values(kDim, 4 * kDim), false, true);
    }

    void single_block(int64_t i) {
        const std::string b = "single_transformer_blocks." + std::to_string(i) + ".";
        add_adanorm(b, true, "norm.linear", 3);
        ReferenceW4A4 qkv = values(3 * kDim, kDim), out = values(kDim, kDim);
        out.smooth = out_proj_smooth();
        if (o.fold_out_proj) {
            fold_into_v(qkv, out.smooth);
            fold_out_proj(out, out.smooth);
        }
        add(b, true, "qkv_proj", qkv);
        add(b, true, "out_proj", out);
        add(b, true, "mlp_fc1", values(4 * kDim, kDim), true);
        add(b, true, "mlp_fc2", values(kDim, 4 * kDim), false, true);
    }
};

inline std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// Nunchaku's quantization_config as nunchaku/merge_safetensors.py writes it.
inline std::string nunchaku_quantization_config(bool nvfp4) {
    const std::string dtype = nvfp4 ? R"("fp4_e2m1_all")" : R"("int4")", group = nvfp4 ? "16" : "64";
    return R"({"method": "svdquant", "weight": {"dtype": )" + dtype + R"(, "scale_dtype": )" +
           (nvfp4 ? R"([null, "fp8_e4m3_nan"])" : "null") + R"(, "group_size": )" + group + R"(}, "activation": {"dtype": )" +
           dtype + R"(, "scale_dtype": )" + (nvfp4 ? R"("fp8_e4m3_nan")" : "null") + R"(, "group_size": )" + group + "}}";
}

}  // namespace flux_fixture_detail

// Writes the checkpoint and returns its quantized linears in forward order:
// per double block norm1, norm1_context, qkv, qkv_context, out, out_context,
// fc1, fc2, context_fc1, context_fc2; per single block norm, qkv, out, fc1, fc2.
inline std::vector<KnownLinear> write_flux_fixture(const std::string& path, const FluxFixtureOptions& o) {
    namespace d = flux_fixture_detail;
    SafeTensorsWriter w;
    std::vector<KnownLinear> known;
    const SafeTensorsFile tiny(flux_tiny_dir() + "/diffusion_pytorch_model.safetensors");
    const bool v0 = o.style != FluxFileStyle::OursDiffusers;
    int64_t doubles = 0, singles = 0;
    for (const TensorEntry& t : tiny.tensors()) {
        const bool in_block = t.name.rfind("transformer_blocks.", 0) == 0 || t.name.rfind("single_transformer_blocks.", 0) == 0;
        const size_t norm = t.name.find(".attn.norm_");
        if (in_block && norm == std::string::npos) continue;  // block linears: replaced by known layers
        std::string name = t.name;
        if (in_block && v0) name.erase(norm, 5);  // Nunchaku v0 keeps q/k norms under the block
        w.add_copy(name, t.dtype, t.shape, tiny.data(t), t.size_bytes());
        if (t.name.rfind("transformer_blocks.", 0) == 0 && t.name.find(".norm_q.") != std::string::npos) ++doubles;
        if (t.name.rfind("single_transformer_blocks.", 0) == 0 && t.name.find(".norm_q.") != std::string::npos) ++singles;
    }
    d::Writer blocks{w, o, known};
    for (int64_t i = 0; i < doubles; ++i) blocks.double_block(i);
    for (int64_t i = 0; i < singles; ++i) blocks.single_block(i);

    const std::string config = d::read_text(flux_tiny_dir() + "/config.json");
    if (o.w4a16_blocks) {
        w.set_metadata("config", config);  // no W4A4 layer for a quantization_config to declare
    } else if (o.style == FluxFileStyle::Reference) {
        w.set_metadata("config", config);
        w.set_metadata("model_class", "NunchakuFluxTransformer2dModel");
        w.set_metadata("quantization_config", d::nunchaku_quantization_config(o.nvfp4));
    } else {
        set_nunchaku_metadata(w, o.nvfp4 ? SVDQ_FORMAT_NVFP4 : SVDQ_FORMAT_INT4, d::kRank, config,
                              "NunchakuFluxTransformer2dModel");
    }
    w.save(path);
    return known;
}

// One forward of the checkpoint on flux-tiny's inputs. Every quantized linear
// the forward runs is checked against its KnownLinear on the very input the
// forward gives it (the layer run once more on that input: deterministic).
struct FluxFixtureRun {
    std::vector<float> output;
    int64_t expected_output_size = 0;
    int64_t quantized_linears_run = 0;
    int64_t shape_mismatches = 0;
    double worst_rel_error = 0;  // compare_rows over every linear
    std::string worst_layer;
    int64_t rows = 0, compared = 0;
};

inline FluxFixtureRun run_flux_fixture(Context& ctx, const std::string& path, const std::vector<KnownLinear>& known) {
    const FluxCheckpoint checkpoint(path);
    const FluxTransformer model(ctx, checkpoint);
    const FluxInputSet inputs = read_flux_inputs(SafeTensorsFile(flux_tiny_dir() + "/inputs.safetensors"), model.config());
    FluxFixtureRun run;
    const LinearInputHook check = [&](const Linear& layer, const std::vector<float>& x, int64_t rows) {
        if (layer.scheme() == SVDQ_SCHEME_FLOAT) return;  // embedders, norm_out, proj_out
        const size_t index = static_cast<size_t>(run.quantized_linears_run++);
        if (index >= known.size() || known[index].n != layer.out_features() || known[index].k != layer.in_features()) {
            ++run.shape_mismatches;
            return;
        }
        std::vector<float> y(static_cast<size_t>(rows * layer.out_features()));
        layer.forward(ctx, x.data(), rows, y.data());
        // W4A16 reads X rounded to BF16 at avx512_bf16.
        const std::vector<float> seen = layer.scheme() == SVDQ_SCHEME_W4A16 ? w4a16_input(ctx.backend().cpu_level(), x) : x;
        const Comparison c = compare_rows(y, expected_forward(known[index], seen.data(), rows), layer.out_features());
        run.rows += c.rows;
        run.compared += c.compared;
        if (c.rel_error >= run.worst_rel_error) {
            run.worst_rel_error = c.rel_error;
            run.worst_layer = known[index].name;
        }
    };
    run.output = model.forward(ctx, inputs.view(), {}, check);
    run.expected_output_size = inputs.batch * inputs.img_tokens * model.config().output_features();
    return run;
}

// The checkpoint loads as a FLUX model, runs every quantized linear it holds,
// each computing its formula, and gives a finite output of the right shape.
inline void expect_flux_fixture_computes_its_known_values(const std::string& path, const std::vector<KnownLinear>& known) {
    Context ctx(context_options());
    const FluxFixtureRun run = run_flux_fixture(ctx, path, known);

    EXPECT_EQ(run.quantized_linears_run, static_cast<int64_t>(known.size()));
    EXPECT_EQ(run.shape_mismatches, 0);
    ASSERT_EQ(static_cast<int64_t>(run.output.size()), run.expected_output_size);
    for (float v : run.output) ASSERT_TRUE(std::isfinite(v));
    std::printf("%s: worst max |Y - formula| / max |formula| %.2e (%s), %lld of %lld token rows clear of rounding edges\n",
                path.c_str(), run.worst_rel_error, run.worst_layer.c_str(), static_cast<long long>(run.compared),
                static_cast<long long>(run.rows));
    // Rows with an activation within kTieMargin of a rounding edge are left
    // out (float32 may round them either way): measured 3 to 6 of 780.
    EXPECT_GT(run.compared, run.rows * 98 / 100);
    // float32 rounding only: measured 4.3e-7 .. 5.8e-7 (scalar and AVX2);
    // W4A16 blocks (float inputs, K up to 256) 7.2e-7 scalar, 8.1e-7 AVX2.
    EXPECT_LT(run.worst_rel_error, 1e-6) << run.worst_layer;
}

}  // namespace svdq::test
