// A quantized layer through its file, for every method and format: written,
// read back and run; and what the file conversions promise on their own.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/context.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "formats/float_codec.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "formats/nunchaku_layer_convert.h"
#include "formats/quantized_layer_file.h"
#include "core/numerics/nvfp4_quant.h"
#include "quant/quantizer.h"
#include "cpu_levels.h"
#include "temp_path.h"
#include "test_util.h"

namespace svdq {

namespace {

namespace fs = std::filesystem;

struct Case {
    svdq_quant_method method;
    svdq_number_format format;
};

const Case kCases[] = {
    {SVDQ_QUANT_RTN, SVDQ_FORMAT_INT4},       {SVDQ_QUANT_SMOOTHQUANT, SVDQ_FORMAT_INT4}, {SVDQ_QUANT_LOWRANK, SVDQ_FORMAT_INT4},
    {SVDQ_QUANT_SVDQUANT, SVDQ_FORMAT_INT4},  {SVDQ_QUANT_W4A16, SVDQ_FORMAT_INT4},       {SVDQ_QUANT_RTN, SVDQ_FORMAT_NVFP4},
    {SVDQ_QUANT_SMOOTHQUANT, SVDQ_FORMAT_NVFP4}, {SVDQ_QUANT_LOWRANK, SVDQ_FORMAT_NVFP4}, {SVDQ_QUANT_SVDQUANT, SVDQ_FORMAT_NVFP4},
};

// The values as the file stores its float tensors.
std::vector<float> bf16(const std::vector<float>& v) {
    std::vector<float> out(v.size());
    decode_to_f32(SVDQ_DTYPE_BF16, encode_from_f32(v, SVDQ_DTYPE_BF16).data(), v.size(), out.data(), "bf16");
    return out;
}

std::vector<float> run(Context& ctx, const LinearWeights& w, const std::vector<float>& x, int64_t m) {
    std::vector<float> y(static_cast<size_t>(m * w.n));
    Linear(ctx, w).forward(ctx, x.data(), m, y.data());
    return y;
}

// N and K not multiples of 128 (the file pads them), N not a multiple of 4 (AWQ packs rows in fours).
constexpr int64_t kM = 24, kN = 198, kK = 320, kRank = 16;

class LayerFileCase : public testing::TestWithParam<Case> {
protected:
    void SetUp() override {
        QuantizerOptions o;
        o.method = GetParam().method;
        o.format = GetParam().format;
        o.rank = kRank;
        o.search = SVDQ_SEARCH_FIXED;
        o.activation = SVDQ_ACTIVATION_GELU_TANH;
        const LayerToQuantize layer{kN, test::gaussian(static_cast<size_t>(kN * kK), 42, 0.05f),
                                    test::bf16_values(test::gaussian(static_cast<size_t>(kN), 43, 3.0f))};  // as large as X W^T, BF16 like a checkpoint's
        w_ = std::move(quantize_layers({layer}, kK, x_.data(), kM, o, ctx_).layers.front());
    }
    bool is_w4a16() const { return GetParam().method == SVDQ_QUANT_W4A16; }

    // The layer written to a file and read back.
    LinearWeights through_file() {
        const std::string path = test::temp_path(std::string("svdq_layer_") + method_name(GetParam().method) + ".safetensors");
        write_quantized_layer(path, w_, method_name(GetParam().method), ctx_.pool());
        LinearWeights loaded = read_quantized_layer(path);
        fs::remove(path);
        return loaded;
    }

    // w_ converted as the writer converts it, its float parts rounded to BF16 as
    // the file stores them, and converted back: what the file must give.
    LinearWeights expected_from_file() {
        LinearWeights e;
        if (is_w4a16()) {
            NunchakuW4A16Linear a = awq_from_linear_weights(w_, ctx_.pool());
            a.scales = bf16(a.scales);
            a.zeros = bf16(a.zeros);
            a.bias = bf16(a.bias);
            e = linear_weights_from_awq(a);
        } else {
            NunchakuLinear l = nunchaku_from_linear_weights(w_, ctx_.pool());
            l.int4.scales = bf16(l.int4.scales);
            l.channel_scales = bf16(l.channel_scales);
            l.bias = bf16(l.bias);
            l.smooth = bf16(l.smooth);
            l.lora_down = bf16(l.lora_down);
            l.lora_up = bf16(l.lora_up);
            e = linear_weights_from_nunchaku(l);
        }
        e.activation = w_.activation;
        return e;
    }

    Context ctx_{test::context_options()};
    const std::vector<float> x_ = test::with_outlier_channels(test::gaussian(static_cast<size_t>(kM * kK), 41), kK, 37, 20.0f);
    LinearWeights w_;
};

}  // namespace

TEST_P(LayerFileCase, StoresTheFourBitValuesOfTheLayerInMemory) {
    const LinearWeights loaded = through_file();
    EXPECT_EQ(loaded.scheme, w_.scheme);
    EXPECT_EQ(loaded.format, w_.format);
    EXPECT_EQ(loaded.activation, SVDQ_ACTIVATION_GELU_TANH);
    EXPECT_EQ(loaded.n, kN);
    EXPECT_EQ(loaded.k, kK);
    EXPECT_EQ(loaded.rank, w_.rank);
    EXPECT_EQ(loaded.smooth.empty(), w_.smooth.empty()) << "a smooth of ones is no smoothing";

    if (is_w4a16()) {
        const Int4Matrix q = quantize_int4(w_.weight.data(), kN, kK, ctx_.pool());
        ASSERT_TRUE(loaded.quantized_residual.has_value());
        EXPECT_EQ(loaded.quantized_residual->packed, q.packed) << "the 4-bit values are stored exactly";
        EXPECT_EQ(loaded.quantized_residual->scales, bf16(q.scales));
        EXPECT_TRUE(loaded.quantized_zeros.empty()) << "AWQ zeros of -8 * scale are the symmetric weights";
    } else if (GetParam().format == SVDQ_FORMAT_NVFP4) {
        const Nvfp4Tensor q = quantize_nvfp4(smoothed_residual(w_, ctx_.pool()).data(), kN, kK, ctx_.pool());
        ASSERT_TRUE(loaded.nvfp4_residual.has_value());
        EXPECT_EQ(loaded.nvfp4_residual->values.packed, q.values.packed) << "E2M1 codes stored exactly";
        EXPECT_EQ(loaded.nvfp4_residual->values.scales, q.values.scales) << "E4M3 group scales stored exactly";
        EXPECT_EQ(loaded.nvfp4_residual->tensor_scale, q.tensor_scale);
        EXPECT_EQ(loaded.nvfp4_residual->channel_scales, std::vector<float>(kN, 1.0f));
    } else {
        const Int4Matrix q = quantize_int4(smoothed_residual(w_, ctx_.pool()).data(), kN, kK, ctx_.pool());
        ASSERT_TRUE(loaded.quantized_residual.has_value());
        EXPECT_EQ(loaded.quantized_residual->packed, q.packed) << "the 4-bit values are stored exactly";
        EXPECT_EQ(loaded.quantized_residual->scales, bf16(q.scales));
    }
}

TEST_P(LayerFileCase, LoadedLayerRunsLikeTheLayerInMemory) {
    const LinearWeights loaded = through_file();
    const std::vector<float> y_memory = run(ctx_, w_, x_, kM), y_file = run(ctx_, loaded, x_, kM);
    // Exactly the layer in memory with its float parts rounded to BF16.
    EXPECT_EQ(y_file, run(ctx_, expected_from_file(), x_, kM));
    // And with a BF16 bias nothing is left to round: the layer in memory
    // keeps its INT4 scales and branch in BF16 already and the quantizer makes
    // lambda BF16, so the loaded layer is the layer in memory, bit for bit.
    // (An fp32 bias of this size rounds to 1.3e-3 of the output.)
    EXPECT_EQ(y_file, y_memory);
}

TEST_P(LayerFileCase, ConversionsInMemoryAreExact) {
    LinearWeights back;
    if (is_w4a16()) {
        back = linear_weights_from_awq(awq_from_linear_weights(w_, ctx_.pool()));
        EXPECT_TRUE(back.quantized_zeros.empty());
    } else {
        back = linear_weights_from_nunchaku(nunchaku_from_linear_weights(w_, ctx_.pool()));
    }
    back.activation = w_.activation;
    EXPECT_EQ(run(ctx_, back, x_, kM), run(ctx_, w_, x_, kM)) << "bit for bit";
}

INSTANTIATE_TEST_SUITE_P(EveryMethodAndFormat, LayerFileCase, testing::ValuesIn(kCases), [](const auto& info) {
    return std::string(method_name(info.param.method)) + (info.param.format == SVDQ_FORMAT_NVFP4 ? "_nvfp4" : "_int4");
});

namespace {

// An AWQ layer with arbitrary zero points, as Nunchaku's adaLN layers hold
// them; every value BF16, so the file keeps it exactly.
NunchakuW4A16Linear asymmetric_awq(int64_t n, int64_t k) {
    NunchakuW4A16Linear a;
    a.out_features = n;
    a.in_features = k;
    a.packed.resize(static_cast<size_t>(n * k / 2));
    for (size_t i = 0; i < a.packed.size(); ++i) a.packed[i] = static_cast<uint8_t>((i * 2654435761u) >> 11);
    a.scales = bf16(test::gaussian(static_cast<size_t>(n * k / 64), 7, 0.01f));
    a.zeros = bf16(test::gaussian(a.scales.size(), 8, 0.05f));
    a.bias = bf16(test::gaussian(static_cast<size_t>(n), 9, 0.1f));
    return a;
}

void write_awq_layer_file(const std::string& path, const NunchakuW4A16Linear& a) {
    SafeTensorsWriter writer;
    add_nunchaku_w4a16_linear(writer, kQuantizedLayerPrefix, a);
    writer.set_metadata("svdquant_layer", nlohmann::json{{"out_features", a.out_features}, {"in_features", a.in_features},
                                                         {"rank", 0}, {"method", "w4a16"}, {"format", "int4"}}
                                              .dump());
    writer.save(path);
}

}  // namespace

class LayerFileAwqLevel : public testing::TestWithParam<svdq_cpu_level> {};

TEST_P(LayerFileAwqLevel, ArbitraryZeroPointsLoadExactly) {
    SVDQ_REQUIRE_LEVEL(GetParam());
    const int64_t n = 96, k = 256, m = 13;
    const NunchakuW4A16Linear a = asymmetric_awq(n, k);
    const std::string path = test::temp_path("svdq_layer_awq.safetensors");
    write_awq_layer_file(path, a);
    const LinearWeights loaded = read_quantized_layer(path);
    fs::remove(path);
    EXPECT_EQ(loaded.scheme, SVDQ_SCHEME_W4A16);
    EXPECT_EQ(loaded.quantized_zeros, a.zeros);
    EXPECT_EQ(loaded.quantized_residual->scales, a.scales);

    const auto x = test::gaussian(static_cast<size_t>(m * k), 10);
    const auto value = [&](int64_t o, int64_t j) {  // q * scale + zero in float64
        const int q = (a.packed[static_cast<size_t>((o * k + j) / 2)] >> ((j & 1) * 4)) & 0xF;
        const size_t g = static_cast<size_t>(o * a.groups() + j / 64);
        return q * static_cast<double>(a.scales[g]) + a.zeros[g];
    };
    const auto seen = test::w4a16_input(GetParam(), x);
    const auto ref = test::reference_matmul(seen.data(), m, n, k, value, a.bias.data());
    Context ctx(test::level_options(GetParam()));
    // Float accumulation over K = 256 against float64 of q * scale + zero
    // on X as the level reads it.
    EXPECT_LT(test::max_rel_error(run(ctx, loaded, x, m), ref), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(AllLevels, LayerFileAwqLevel, testing::ValuesIn(test::all_levels()),
                         [](const auto& info) { return std::string(cpu_level_name(info.param)); });

TEST(LayerFileAwq, W4A16InNvfp4IsRefusedAndLeavesNoFile) {
    Context ctx(test::context_options());
    LinearWeights w;
    w.scheme = SVDQ_SCHEME_W4A16;
    w.format = SVDQ_FORMAT_NVFP4;
    w.n = 8;
    w.k = 64;
    w.weight.assign(8 * 64, 0.5f);
    const std::string path = test::temp_path("svdq_layer_w4a16_nvfp4.safetensors");
    fs::remove(path);
    try {
        write_quantized_layer(path, w, "w4a16", ctx.pool());
        FAIL() << "saved an NVFP4 W4A16 layer";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("INT4 weights only"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(path));
}

namespace {

// A copy of the file at `from` with `edit` applied to its metadata and without tensor `drop`.
std::string rewritten(const std::string& from, const std::string& name,
                      const std::function<void(nlohmann::json&)>& edit, const std::string& drop = "") {
    const SafeTensorsFile in(from);
    SafeTensorsWriter writer;
    for (const TensorEntry& t : in.tensors())
        if (t.name != drop) writer.add(t.name, t.dtype, t.shape, std::vector<uint8_t>(in.data(t), in.data(t) + t.size_bytes()));
    for (const auto& [key, value] : in.metadata()) {
        if (key != "svdquant_layer") {
            writer.set_metadata(key, value);
            continue;
        }
        nlohmann::json info = nlohmann::json::parse(value);
        edit(info);
        writer.set_metadata(key, info.dump());
    }
    const std::string path = test::temp_path(name);
    writer.save(path);
    return path;
}

void expect_error(const std::string& path, svdq_status status, const std::string& needle) {
    try {
        read_quantized_layer(path);
        ADD_FAILURE() << "read " << path << " (expected '" << needle << "')";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "names the file: " << e.what();
    }
    fs::remove(path);
}

}  // namespace

TEST(LayerFileErrors, OtherFilesAreRejectedByName) {
    const std::string inputs = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny/inputs.safetensors";
    try {
        read_quantized_layer(inputs);
        FAIL() << "read a file with no layer";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_FORMAT);
        EXPECT_NE(std::string(e.what()).find("svdquant_layer"), std::string::npos) << e.what();
    }
}

TEST(LayerFileErrors, BrokenLayerFilesAreNamed) {
    Context ctx(test::context_options());
    LinearWeights w;
    w.scheme = SVDQ_SCHEME_W4A4;
    w.format = SVDQ_FORMAT_INT4;
    w.n = 64;
    w.k = 128;
    w.weight = test::gaussian(64 * 128, 3);
    const std::string good = test::temp_path("svdq_layer_good.safetensors");
    write_quantized_layer(good, w, "rtn", ctx.pool());
    const std::string awq = test::temp_path("svdq_layer_good_awq.safetensors");
    write_awq_layer_file(awq, asymmetric_awq(64, 128));
    using json = nlohmann::json;

    expect_error(rewritten(good, "svdq_bad_l1.safetensors", [](json& j) { j.erase("out_features"); }), SVDQ_ERROR_FORMAT, "out_features");
    expect_error(rewritten(good, "svdq_bad_l2.safetensors", [](json& j) { j["in_features"] = "128"; }), SVDQ_ERROR_FORMAT, "in_features");
    expect_error(rewritten(good, "svdq_bad_l3.safetensors", [](json& j) { j["out_features"] = 129; }), SVDQ_ERROR_FORMAT,
                 "larger than the stored layer");
    expect_error(rewritten(good, "svdq_bad_l4.safetensors", [](json& j) { j["format"] = "nvfp4"; }), SVDQ_ERROR_FORMAT,
                 "format 'nvfp4'");
    expect_error(rewritten(good, "svdq_bad_l5.safetensors", [](json& j) { j["format"] = "fp8"; }), SVDQ_ERROR_FORMAT, "fp8");
    expect_error(rewritten(good, "svdq_bad_l6.safetensors", [](json& j) { j["activation"] = 7; }), SVDQ_ERROR_FORMAT, "activation 7");
    expect_error(rewritten(good, "svdq_bad_l7.safetensors", [](json& j) { j["method"] = "w4a16"; }), SVDQ_ERROR_FORMAT,
                 "method 'w4a16'");
    expect_error(rewritten(good, "svdq_bad_l8.safetensors", [](json&) {}, "layer.wscales"), SVDQ_ERROR_FORMAT, "layer.wscales");
    expect_error(rewritten(awq, "svdq_bad_a1.safetensors", [](json& j) { j["in_features"] = 64; }), SVDQ_ERROR_FORMAT,
                 "does not fit the stored AWQ layer");
    expect_error(rewritten(awq, "svdq_bad_a2.safetensors", [](json&) {}, "layer.wzeros"), SVDQ_ERROR_FORMAT, "layer.wzeros");
    fs::remove(good);
    fs::remove(awq);
}

}  // namespace svdq
