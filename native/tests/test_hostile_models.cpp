// Numbers and checkpoints that used to run and give garbage with SVDQ_OK:
// huge or non-finite values entering the quantizer or a loaded layer or model,
// misshapen or non-finite FLUX inputs, and configs that leave weights unused.
// Each must now be one named SVDQ error and no output file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "format_test_util.h"
#include "formats/float_codec.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "svdquant.h"
#include "test_util.h"

namespace {

using namespace svdq;
namespace fs = std::filesystem;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Context {
    svdq_context* ctx = nullptr;
    Context() {
        const svdq_context_options o = test::context_options();
        EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_OK);
    }
    ~Context() { svdq_context_destroy(ctx); }
};

// Expects `status` from the call and every needle in the thread's last error message.
void expect_status(svdq_status got, svdq_status want, std::initializer_list<std::string> needles) {
    const std::string message = svdq_last_error_message();
    EXPECT_EQ(got, want) << message;
    for (const std::string& needle : needles) EXPECT_NE(message.find(needle), std::string::npos) << "no '" << needle << "' in: " << message;
    // Non-finite values are spelled NaN/Inf/-Inf, never the C library's "nan"/"-nan"/"inf".
    for (const char* libc : {"(nan)", "(-nan)", "(inf)", "(-inf)", " nan ", " inf "})
        EXPECT_EQ(message.find(libc), std::string::npos) << message;
}

void add_f32(SafeTensorsWriter& w, const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    w.add(name, SVDQ_DTYPE_F32, std::move(shape), encode_from_f32(v, SVDQ_DTYPE_F32));
}

// A copy of `from` at `to` with value [index] of tensor `name` set to `value`,
// encoded in the tensor's own dtype (F32, F16, BF16; F8_E4M3 gets its NaN byte 0x7f, whatever `value`).
void copy_with_value(const std::string& from, const std::string& to, const std::string& name, size_t index, float value) {
    const SafeTensorsFile in(from);
    SafeTensorsWriter out;
    for (const auto& [key, text] : in.metadata()) out.set_metadata(key, text);
    bool found = false;
    for (const TensorEntry& t : in.tensors()) {
        const uint8_t* data = in.data(t);
        std::vector<uint8_t> bytes(data, data + t.size_bytes());
        if (t.name == name) {
            ASSERT_LT(index, static_cast<size_t>(t.numel)) << name;
            found = true;
            if (t.dtype == SVDQ_DTYPE_F8_E4M3) {
                bytes[index] = 0x7f;
            } else {
                const std::vector<uint8_t> v = encode_from_f32({value}, t.dtype);
                std::memcpy(bytes.data() + index * v.size(), v.data(), v.size());
            }
        }
        out.add(t.name, t.dtype, t.shape, std::move(bytes));
    }
    ASSERT_TRUE(found) << name << " not in " << from;
    out.save(to);
}

// test::temp_path with nothing there yet (a file left by an earlier run would fake an output).
std::string fresh_path(const std::string& tag) {
    const std::string path = test::temp_path(tag);
    fs::remove(path);
    return path;
}

std::string flux_tiny() { return std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny"; }

// flux-tiny's config and weights in a fresh folder, config edited by `edit`.
template <class Edit>
std::string flux_copy(const std::string& tag, Edit edit) {
    const fs::path dir = fs::path(testing::TempDir()) / ("svdq_hostile_flux_" + tag);
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(flux_tiny() + "/diffusion_pytorch_model.safetensors", dir / "diffusion_pytorch_model.safetensors");
    std::ifstream in(flux_tiny() + "/config.json");
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    edit(config);
    std::ofstream(dir / "config.json") << config;
    return dir.string();
}

void replace(std::string& text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
}

svdq_status load_flux(svdq_context* ctx, const std::string& path, svdq_flux** model) {
    svdq_flux_load_options o;
    svdq_flux_load_options_init(&o);
    return svdq_flux_load(ctx, path.c_str(), &o, model);
}

// --- Row 7: the quantizer's input domain and non-finite results -------------

constexpr int64_t kN = 32, kK = 64, kM = 16;

// weight [32, 64] and calib [16, 64] with `weight[wi]` and `calib[ci]` replaced.
std::string layer_input(const std::string& tag, size_t wi, float wv, size_t ci, float cv) {
    std::vector<float> w = test::gaussian(kN * kK, 1), x = test::gaussian(kM * kK, 2);
    w[wi] = wv;
    x[ci] = cv;
    SafeTensorsWriter out;
    add_f32(out, "weight", {kN, kK}, w);
    add_f32(out, "calib", {kM, kK}, x);
    const std::string path = test::temp_path(tag);
    out.save(path);
    return path;
}

svdq_status quantize_file(svdq_context* ctx, const std::string& in, const std::string& out,
                          svdq_number_format format = SVDQ_FORMAT_INT4) {
    svdq_quantize_options o;
    svdq_quantize_options_init(&o);
    o.rank = 16;
    o.format = format;
    return svdq_layer_quantize_file(ctx, &o, in.c_str(), out.c_str(), nullptr);
}

TEST(HostileQuantizerInput, AHugeFiniteWeightIsRefusedNamingTheTensorAndIndex) {
    // 1e20 is finite, but its square is not: before the bound the search and
    // SVD ran on Inf and wrote a layer full of NaN with SVDQ_OK.
    Context c;
    const std::string in = layer_input("in", 3 * kK + 5, 1e20f, 0, 0.5f), out = fresh_path("out");
    expect_status(quantize_file(c.ctx, in, out), SVDQ_ERROR_NON_FINITE, {in + ": weight holds 1e+20 at row 3, column 5", "2^32"});
    EXPECT_FALSE(fs::exists(out));
}

TEST(HostileQuantizerInput, AHugeCalibrationValueIsRefusedNamingIt) {
    Context c;
    const std::string in = layer_input("in", 0, 0.5f, 2 * kK + 7, -3e19f), out = fresh_path("out");
    expect_status(quantize_file(c.ctx, in, out), SVDQ_ERROR_NON_FINITE, {"calibration activations hold -3e+19 at row 2, column 7"});
    EXPECT_FALSE(fs::exists(out));
}

TEST(HostileQuantizerInput, InfInTheInputFileIsNamedAsInf) {
    Context c;
    const std::string in = layer_input("in", 9, -kInf, 0, 0.5f), out = fresh_path("out");
    expect_status(quantize_file(c.ctx, in, out), SVDQ_ERROR_NON_FINITE, {in, "'weight'", "(-Inf)", "flat index 9"});
    EXPECT_FALSE(fs::exists(out));
}

TEST(HostileQuantizerInput, LargeValuesInsideTheBoundQuantizeToAFiniteLayer) {
    // The bound must not refuse what the quantizer handles: weights and
    // activations scaled to ~1e8 give a layer whose output is finite and as
    // accurate (relative) as the unscaled one.
    Context c;
    std::vector<float> w = test::gaussian(kN * kK, 1), x = test::gaussian(kM * kK, 2);
    for (float& v : w) v *= 1e8f;
    for (float& v : x) v *= 1e8f;
    SafeTensorsWriter file;
    add_f32(file, "weight", {kN, kK}, w);
    add_f32(file, "calib", {kM, kK}, x);
    const std::string in = test::temp_path("in"), out = fresh_path("out");
    file.save(in);
    ASSERT_EQ(quantize_file(c.ctx, in, out), SVDQ_OK) << svdq_last_error_message();
    svdq_linear* layer = nullptr;
    ASSERT_EQ(svdq_linear_load(c.ctx, out.c_str(), &layer), SVDQ_OK) << svdq_last_error_message();
    std::vector<float> y(static_cast<size_t>(kM * kN));
    const int64_t xs[2] = {kM, kK}, ys[2] = {kM, kN};
    svdq_tensor *xt = nullptr, *yt = nullptr;
    ASSERT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, xs, 2, x.data(), x.size() * 4, &xt), SVDQ_OK);
    ASSERT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, ys, 2, y.data(), y.size() * 4, &yt), SVDQ_OK);
    ASSERT_EQ(svdq_linear_forward(c.ctx, layer, xt, yt), SVDQ_OK) << svdq_last_error_message();
    const std::vector<double> ref = test::reference_matmul(x.data(), kM, kN, kK, [&](int64_t o, int64_t j) { return w[o * kK + j]; });
    for (float v : y) ASSERT_TRUE(std::isfinite(v));
    // SVDQuant r16 INT4 on Gaussian data, a relative error that no scale changes:
    // measured 0.0607 at 1e8 (as at scale 1); 0.07 bounds it.
    EXPECT_LT(test::frobenius_rel_error(y, ref), 0.07);
    svdq_tensor_destroy(xt);
    svdq_tensor_destroy(yt);
    svdq_linear_destroy(layer);
}

// --- Row 7: every tensor of a loaded layer file is checked finite -----------

// A valid layer file (svdquant, rank 16) quantized from finite values.
std::string valid_layer(svdq_context* ctx, svdq_number_format format) {
    const std::string in = layer_input("valid_in", 0, 0.5f, 0, 0.5f), out = test::temp_path("valid");
    EXPECT_EQ(quantize_file(ctx, in, out, format), SVDQ_OK) << svdq_last_error_message();
    return out;
}

class HostileLayerFile : public testing::TestWithParam<svdq_number_format> {};

TEST_P(HostileLayerFile, NonFiniteValuesInAnyFloatTensorAreRefusedNamingFileAndTensor) {
    // Before: svdq_linear_load took NaN/Inf smooth, branch, scales and bias as
    // they were and `layer run` wrote NaN outputs with exit 0.
    Context c;
    const std::string valid = valid_layer(c.ctx, GetParam());
    const SafeTensorsFile file(valid);
    int checked = 0;
    for (const TensorEntry& t : file.tensors()) {
        if (!is_float_dtype(t.dtype)) continue;  // qweight: 4-bit codes, every byte valid
        const bool fp8 = t.dtype == SVDQ_DTYPE_F8_E4M3;  // NVFP4 group scales: E4M3 has NaN (0x7f) but no Inf
        for (float bad : fp8 ? std::vector<float>{kNaN} : std::vector<float>{kNaN, kInf, -kInf}) {
            const std::string broken = test::temp_path("broken");
            const size_t index = t.numel > 1 ? 1 : 0;  // wtscale is a single value
            copy_with_value(valid, broken, t.name, index, bad);
            svdq_linear* layer = nullptr;
            const std::string spelled = std::isnan(bad) ? "(NaN)" : bad > 0 ? "(Inf)" : "(-Inf)";
            expect_status(svdq_linear_load(c.ctx, broken.c_str(), &layer), SVDQ_ERROR_NON_FINITE,
                          {broken, "'" + t.name + "'", spelled, "flat index " + std::to_string(index)});
            EXPECT_EQ(layer, nullptr);
            svdq_linear_destroy(layer);
        }
        ++checked;
    }
    // wscales, smooth, smooth_orig, lora_down, lora_up; NVFP4 adds wcscales and wtscale.
    EXPECT_EQ(checked, GetParam() == SVDQ_FORMAT_NVFP4 ? 7 : 5);
}

INSTANTIATE_TEST_SUITE_P(Int4AndNvfp4, HostileLayerFile, testing::Values(SVDQ_FORMAT_INT4, SVDQ_FORMAT_NVFP4),
                         [](const testing::TestParamInfo<svdq_number_format>& info) {
                             return info.param == SVDQ_FORMAT_NVFP4 ? "Nvfp4" : "Int4";
                         });

// --- Row 9 and row 7: FLUX checkpoints --------------------------------------

TEST(HostileFluxCheckpoint, FewerLayersInTheConfigThanInTheFileIsAnError) {
    // num_layers 1 on a 2-layer file used to load, run and drop block 1.
    Context c;
    const std::string dir = flux_copy("layers", [](std::string& cfg) { replace(cfg, "\"num_layers\": 2", "\"num_layers\": 1"); });
    svdq_flux* model = nullptr;
    expect_status(load_flux(c.ctx, dir, &model), SVDQ_ERROR_FORMAT, {dir, "the config does not use", "'transformer_blocks.1."});
    EXPECT_EQ(model, nullptr);
    svdq_flux_destroy(model);
}

TEST(HostileFluxCheckpoint, GuidanceWeightsWithGuidanceEmbedsFalseIsAnError) {
    Context c;
    const std::string dir =
        flux_copy("guidance", [](std::string& cfg) { replace(cfg, "\"guidance_embeds\": true", "\"guidance_embeds\": false"); });
    svdq_flux* model = nullptr;
    expect_status(load_flux(c.ctx, dir, &model), SVDQ_ERROR_FORMAT,
                  {"4 tensors the config does not use", "'time_text_embed.guidance_embedder.linear_1.bias'"});
    svdq_flux_destroy(model);
}

TEST(HostileFluxCheckpoint, QuantizingGuidanceWeightsWithGuidanceEmbedsFalseIsAnErrorAndWritesNothing) {
    // `svdquant quantize` used to copy every tensor outside the blocks, so it
    // wrote a file that only failed when loaded.
    Context c;
    const std::string dir =
        flux_copy("guidance-quantize", [](std::string& cfg) { replace(cfg, "\"guidance_embeds\": true", "\"guidance_embeds\": false"); });
    const std::string output = dir + "/quantized.safetensors";
    svdq_quantize_options o;
    svdq_quantize_options_init(&o);
    o.method = SVDQ_QUANT_RTN;
    expect_status(svdq_flux_quantize(c.ctx, dir.c_str(), nullptr, output.c_str(), &o, nullptr, 0, nullptr, nullptr), SVDQ_ERROR_FORMAT,
                  {"4 tensors the config does not use", "'time_text_embed.guidance_embedder.linear_1.bias'"});
    EXPECT_FALSE(fs::exists(output));
}

TEST(HostileFluxCheckpoint, AnExtraTensorIsNamed) {
    Context c;
    const std::string dir = flux_copy("extra", [](std::string&) {});
    {
        const SafeTensorsFile in(dir + "/diffusion_pytorch_model.safetensors");
        SafeTensorsWriter out;
        for (const TensorEntry& t : in.tensors()) out.add_copy(t.name, t.dtype, t.shape, in.data(t), t.size_bytes());
        add_f32(out, "lora.stray.weight", {2}, {1.0f, 2.0f});
        out.save(dir + "/diffusion_pytorch_model-00002.safetensors");
    }
    fs::remove(dir + "/diffusion_pytorch_model.safetensors");
    svdq_flux* model = nullptr;
    expect_status(load_flux(c.ctx, dir, &model), SVDQ_ERROR_FORMAT, {"1 tensor the config does not use: 'lora.stray.weight'"});
    svdq_flux_destroy(model);
}

TEST(HostileFluxCheckpoint, TheUnmodifiedCheckpointLoads) {
    // The check must not refuse a checkpoint whose config matches (it reads every tensor).
    Context c;
    svdq_flux* model = nullptr;
    EXPECT_EQ(load_flux(c.ctx, flux_tiny(), &model), SVDQ_OK) << svdq_last_error_message();
    svdq_flux_destroy(model);
}

TEST(HostileFluxCheckpoint, ANonFiniteWeightIsRefusedNamingFileAndTensor) {
    Context c;
    const std::string dir = flux_copy("nan", [](std::string&) {});
    // As the engine names it: fs::path joins with the OS's separator.
    const std::string weights = (fs::path(dir) / "diffusion_pytorch_model.safetensors").string();
    for (const char* name : {"x_embedder.weight", "transformer_blocks.1.attn.norm_added_k.weight", "proj_out.bias"}) {
        copy_with_value(flux_tiny() + "/diffusion_pytorch_model.safetensors", weights, name, 2, kInf);
        svdq_flux* model = nullptr;
        expect_status(load_flux(c.ctx, dir, &model), SVDQ_ERROR_NON_FINITE, {weights, std::string("'") + name + "'", "(Inf)"});
        svdq_flux_destroy(model);
    }
}

// --- Row 8: FLUX forward inputs are checked finite, naming the input -------

TEST(HostileFluxInputs, NonFiniteInputsAreRefusedNamingTheInput) {
    // Before: a NaN position id or timestep went into RoPE/the embedders and
    // the whole output came back NaN with SVDQ_OK.
    Context c;
    svdq_flux* model = nullptr;
    ASSERT_EQ(load_flux(c.ctx, flux_tiny(), &model), SVDQ_OK) << svdq_last_error_message();
    const SafeTensorsFile file(flux_tiny() + "/inputs.safetensors");
    const std::vector<std::string> names = {"hidden_states", "encoder_hidden_states", "pooled_projections", "timestep",
                                            "guidance", "img_ids", "txt_ids"};
    for (const std::string& bad : names) {
        std::vector<std::vector<float>> values;
        std::vector<svdq_tensor*> tensors;
        for (const std::string& name : names) {
            const TensorEntry& t = file.at(name);
            values.push_back(file.read_f32(t));
            if (name == bad) values.back()[0] = kNaN;
            svdq_tensor* tensor = nullptr;
            EXPECT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, t.shape.data(), static_cast<int32_t>(t.shape.size()), values.back().data(),
                                       values.back().size() * sizeof(float), &tensor),
                      SVDQ_OK);
            tensors.push_back(tensor);
        }
        const TensorEntry& hidden = file.at("hidden_states");
        std::vector<float> y(static_cast<size_t>(hidden.numel));
        svdq_tensor* out = nullptr;
        ASSERT_EQ(svdq_tensor_wrap(SVDQ_DTYPE_F32, hidden.shape.data(), 3, y.data(), y.size() * 4, &out), SVDQ_OK);
        svdq_flux_inputs in{};
        in.struct_size = sizeof in;
        in.hidden_states = tensors[0];
        in.encoder_hidden_states = tensors[1];
        in.pooled_projections = tensors[2];
        in.timestep = tensors[3];
        in.guidance = tensors[4];
        in.img_ids = tensors[5];
        in.txt_ids = tensors[6];
        expect_status(svdq_flux_forward(c.ctx, model, &in, out), SVDQ_ERROR_NON_FINITE, {bad + " holds", "(NaN)", "flat index 0"});
        for (svdq_tensor* t : tensors) svdq_tensor_destroy(t);
        svdq_tensor_destroy(out);
    }
    svdq_flux_destroy(model);
}

}  // namespace
