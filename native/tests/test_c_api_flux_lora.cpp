// FLUX LoRAs through the C API as hosts use them, from a file in diffusers'
// layout to the model's output: flux-tiny with the LoRA equals the float
// model whose weights the test merged itself (W += strength * alpha / rank *
// B A, written to a diffusers folder); strength 0, remove and clear give the
// model's own outputs bit for bit; the list and its unmatched keys; bad LoRAs
// named with the model unchanged; svdq_flux_quantize with the LoRA merged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "svdquant.h"
#include "temp_path.h"

namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";

std::string last_error() { return svdq_last_error_message(); }

struct Matrix {
    std::vector<int64_t> shape;
    std::vector<float> values;
};

// Every tensor of a safetensors file, as F32.
std::map<std::string, Matrix> read_all(const std::string& path) {
    std::map<std::string, Matrix> tensors;
    svdq_safetensors* file = nullptr;
    EXPECT_EQ(svdq_safetensors_open(path.c_str(), &file), SVDQ_OK) << last_error();
    svdq_safetensors_info info{};
    info.struct_size = sizeof info;
    svdq_safetensors_get_info(file, &info);
    for (int64_t i = 0; i < info.tensor_count; ++i) {
        svdq_safetensors_tensor t{};
        t.struct_size = sizeof t;
        svdq_safetensors_get_tensor(file, i, &t);
        Matrix m{std::vector<int64_t>(t.shape, t.shape + t.ndim), {}};
        int64_t count = 1;
        for (int64_t d : m.shape) count *= d;
        m.values.resize(static_cast<size_t>(count));
        EXPECT_EQ(svdq_safetensors_read_f32(file, i, m.values.data(), m.values.size()), SVDQ_OK) << last_error();
        tensors[t.name] = std::move(m);
    }
    svdq_safetensors_destroy(file);
    return tensors;
}

void write_all(const std::map<std::string, Matrix>& tensors, const std::string& path) {
    svdq_safetensors_writer* w = nullptr;
    ASSERT_EQ(svdq_safetensors_writer_create(&w), SVDQ_OK);
    for (const auto& [name, m] : tensors)
        ASSERT_EQ(svdq_safetensors_writer_add_tensor(w, name.c_str(), SVDQ_DTYPE_F32, m.shape.data(), static_cast<int32_t>(m.shape.size()),
                                                     m.values.data(), m.values.size() * 4),
                  SVDQ_OK)
            << last_error();
    ASSERT_EQ(svdq_safetensors_writer_save(w, path.c_str()), SVDQ_OK) << last_error();
    svdq_safetensors_writer_destroy(w);
}

std::vector<float> gaussian(size_t count, uint64_t seed, float stddev) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, stddev);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    return v;
}

// One module of the LoRA file: the diffusers module it changes, down A [rank, in], up B [out, rank].
struct Module {
    std::string module;
    int64_t rank, in, out;
    float alpha;  // <= 0: none in the file (alpha = rank)
    std::vector<float> down, up;
};

std::vector<Module> lora_modules() {
    std::vector<Module> m = {
        {"transformer_blocks.0.attn.to_q", 2, 64, 64, 4.0f, {}, {}},          // meets k in the fused qkv
        {"transformer_blocks.0.attn.to_k", 3, 64, 64, 0.0f, {}, {}},          // no alpha: scale 1
        {"single_transformer_blocks.1.proj_out", 4, 320, 64, 2.0f, {}, {}},   // split onto out and fc2
        {"x_embedder", 2, 16, 64, 1.0f, {}, {}},
    };
    uint64_t seed = 40;
    for (Module& x : m) {
        x.down = gaussian(static_cast<size_t>(x.rank * x.in), ++seed, 0.3f);
        x.up = gaussian(static_cast<size_t>(x.out * x.rank), ++seed, 0.3f);
    }
    return m;
}

const char* const kTextEncoderKeys[] = {"text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight",
                                        "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_B.weight"};

std::string write_lora(const std::vector<Module>& modules, const std::string& tag) {
    std::map<std::string, Matrix> t;
    for (const Module& m : modules) {
        t["transformer." + m.module + ".lora_A.weight"] = {{m.rank, m.in}, m.down};
        t["transformer." + m.module + ".lora_B.weight"] = {{m.out, m.rank}, m.up};
        if (m.alpha > 0) t["transformer." + m.module + ".alpha"] = {{}, {m.alpha}};
    }
    t[kTextEncoderKeys[0]] = {{2, 8}, gaussian(16, 1, 0.1f)};
    t[kTextEncoderKeys[1]] = {{8, 2}, gaussian(16, 2, 0.1f)};
    const std::string path = svdq::test::temp_path(tag + ".safetensors");
    write_all(t, path);
    return path;
}

// flux-tiny with W += strength * alpha / rank * B A for every module, merged here in float64.
std::string write_merged_model(const std::vector<Module>& modules, float strength) {
    std::map<std::string, Matrix> weights = read_all(kModel + "/diffusion_pytorch_model.safetensors");
    for (const Module& m : modules) {
        Matrix& w = weights.at(m.module + ".weight");
        const double scale = strength * (m.alpha > 0 ? m.alpha : static_cast<double>(m.rank)) / static_cast<double>(m.rank);
        for (int64_t o = 0; o < m.out; ++o)
            for (int64_t i = 0; i < m.in; ++i) {
                double delta = 0;
                for (int64_t r = 0; r < m.rank; ++r) delta += static_cast<double>(m.up[o * m.rank + r]) * m.down[r * m.in + i];
                float& x = w.values[static_cast<size_t>(o * m.in + i)];
                x = static_cast<float>(x + scale * delta);
            }
    }
    const fs::path dir = svdq::test::temp_path("merged");
    fs::create_directories(dir);
    fs::copy_file(kModel + "/config.json", dir / "config.json");
    write_all(weights, (dir / "diffusion_pytorch_model.safetensors").string());
    return dir.string();
}

class CApiFluxLora : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(svdq_context_create(nullptr, &ctx_), SVDQ_OK);
        for (const auto& [name, m] : read_all(kModel + "/inputs.safetensors")) {
            svdq_tensor* t = nullptr;
            ASSERT_EQ(svdq_tensor_create(SVDQ_DTYPE_F32, m.shape.data(), static_cast<int32_t>(m.shape.size()), &t), SVDQ_OK);
            void* data = nullptr;
            svdq_tensor_get_data(t, &data, nullptr);
            std::copy(m.values.begin(), m.values.end(), static_cast<float*>(data));
            inputs_[name] = t;
        }
    }
    void TearDown() override {
        for (auto& [name, t] : inputs_) svdq_tensor_destroy(t);
        svdq_context_destroy(ctx_);
    }

    svdq_flux* load(const std::string& path) {
        svdq_flux* model = nullptr;
        EXPECT_EQ(svdq_flux_load(ctx_, path.c_str(), nullptr, &model), SVDQ_OK) << last_error();
        return model;
    }

    std::vector<float> forward(const svdq_flux* model) {
        svdq_flux_inputs in{};
        in.struct_size = sizeof in;
        in.hidden_states = inputs_.at("hidden_states");
        in.encoder_hidden_states = inputs_.at("encoder_hidden_states");
        in.pooled_projections = inputs_.at("pooled_projections");
        in.timestep = inputs_.at("timestep");
        in.guidance = inputs_.at("guidance");
        in.img_ids = inputs_.at("img_ids");
        in.txt_ids = inputs_.at("txt_ids");
        const int64_t shape[] = {2, 16, 16};
        svdq_tensor* y = nullptr;
        EXPECT_EQ(svdq_tensor_create(SVDQ_DTYPE_F32, shape, 3, &y), SVDQ_OK);
        EXPECT_EQ(svdq_flux_forward(ctx_, model, &in, y), SVDQ_OK) << last_error();
        void* data = nullptr;
        svdq_tensor_get_data(y, &data, nullptr);
        std::vector<float> out(static_cast<const float*>(data), static_cast<const float*>(data) + 2 * 16 * 16);
        svdq_tensor_destroy(y);
        return out;
    }

    svdq_lora* load_lora(const std::string& path) {
        svdq_lora* lora = nullptr;
        EXPECT_EQ(svdq_lora_load(path.c_str(), &lora), SVDQ_OK) << last_error();
        return lora;
    }

    static double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
        double diff = 0, scale = 0;
        for (size_t i = 0; i < a.size(); ++i) {
            diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
            scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
        }
        return diff / scale;
    }

    svdq_context* ctx_ = nullptr;
    std::map<std::string, svdq_tensor*> inputs_;
};

}  // namespace

TEST_F(CApiFluxLora, AFileOnTheModelEqualsTheModelWithMergedWeights) {
    const std::vector<Module> modules = lora_modules();
    const float strength = 0.8f;
    svdq_flux* model = load(kModel);
    svdq_flux* merged = load(write_merged_model(modules, strength));
    svdq_lora* lora = load_lora(write_lora(modules, "lora"));
    const std::vector<float> own = forward(model), expected = forward(merged);

    int32_t id = -1;
    ASSERT_EQ(svdq_flux_lora_add(ctx_, model, lora, strength, "my-lora", &id), SVDQ_OK) << last_error();
    svdq_lora_destroy(lora);  // the model keeps what it needs
    const std::vector<float> with = forward(model);
    // float math on both sides; what the LoRA changes is 0.1 of the output or more.
    EXPECT_GT(relative_error(own, expected), 0.1);
    EXPECT_LT(relative_error(with, expected), 1e-5);

    int32_t count = 0;
    ASSERT_EQ(svdq_flux_lora_count(model, &count), SVDQ_OK);
    ASSERT_EQ(count, 1);
    svdq_flux_lora_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_flux_lora_get_info(model, 0, &info), SVDQ_OK) << last_error();
    EXPECT_EQ(info.id, id);
    EXPECT_STREQ(info.name, "my-lora");
    EXPECT_EQ(info.strength, strength);
    EXPECT_EQ(info.matched_modules, 4);
    EXPECT_EQ(info.layer_count, 4) << "block 0 qkv, single block 1 out and fc2, x_embedder";
    ASSERT_EQ(info.unmatched_key_count, 2);
    std::vector<std::string> unmatched(2);
    for (int32_t i = 0; i < 2; ++i) {
        const char* key = nullptr;
        ASSERT_EQ(svdq_flux_lora_get_unmatched_key(model, 0, i, &key), SVDQ_OK) << last_error();
        unmatched[static_cast<size_t>(i)] = key;
    }
    std::sort(unmatched.begin(), unmatched.end());
    EXPECT_EQ(unmatched, (std::vector<std::string>{kTextEncoderKeys[0], kTextEncoderKeys[1]}));

    ASSERT_EQ(svdq_flux_lora_set_strength(ctx_, model, id, 0.0f), SVDQ_OK) << last_error();
    EXPECT_EQ(forward(model), own) << "strength 0: the model's own outputs, bit for bit";
    ASSERT_EQ(svdq_flux_lora_set_strength(ctx_, model, id, strength), SVDQ_OK) << last_error();
    EXPECT_EQ(forward(model), with);
    ASSERT_EQ(svdq_flux_lora_remove(ctx_, model, id), SVDQ_OK) << last_error();
    EXPECT_EQ(forward(model), own) << "removed";
    ASSERT_EQ(svdq_flux_lora_count(model, &count), SVDQ_OK);
    EXPECT_EQ(count, 0);

    lora = load_lora(write_lora(modules, "again"));
    ASSERT_EQ(svdq_flux_lora_add(ctx_, model, lora, 0.5f, nullptr, &id), SVDQ_OK) << last_error();
    ASSERT_EQ(svdq_flux_lora_add(ctx_, model, lora, 0.3f, "second", &id), SVDQ_OK) << last_error();
    EXPECT_LT(relative_error(forward(model), expected), 1e-5) << "0.5 + 0.3 of one LoRA is 0.8 of it";
    ASSERT_EQ(svdq_flux_lora_clear(ctx_, model), SVDQ_OK) << last_error();
    EXPECT_EQ(forward(model), own) << "cleared";
    svdq_lora_destroy(lora);
    svdq_flux_destroy(merged);
    svdq_flux_destroy(model);
}

TEST_F(CApiFluxLora, BadLorasAreNamedAndChangeNothing) {
    svdq_flux* model = load(kModel);
    const std::vector<float> own = forward(model);
    int32_t id = -1;

    std::vector<Module> wrong = lora_modules();
    wrong[0].in = 48;  // to_q reads 64 features
    wrong[0].down.resize(static_cast<size_t>(wrong[0].rank * 48));
    svdq_lora* lora = load_lora(write_lora(wrong, "wrong"));
    EXPECT_EQ(svdq_flux_lora_add(ctx_, model, lora, 1.0f, "wrong", &id), SVDQ_ERROR_SHAPE_MISMATCH);
    EXPECT_NE(last_error().find("transformer.transformer_blocks.0.attn.to_q.lora_A.weight"), std::string::npos) << last_error();
    EXPECT_NE(last_error().find("[2, 48]"), std::string::npos) << last_error();
    EXPECT_NE(last_error().find("[2, 64]"), std::string::npos) << last_error();
    svdq_lora_destroy(lora);

    std::map<std::string, Matrix> sd;
    sd["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"] = {{2, 320}, gaussian(640, 3, 0.1f)};
    sd["lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"] = {{320, 2}, gaussian(640, 4, 0.1f)};
    const std::string sd_path = svdq::test::temp_path("sd.safetensors");
    write_all(sd, sd_path);
    lora = load_lora(sd_path);
    EXPECT_EQ(svdq_flux_lora_add(ctx_, model, lora, 1.0f, "sd", &id), SVDQ_ERROR_FORMAT);
    EXPECT_NE(last_error().find("another model family"), std::string::npos) << last_error();
    svdq_lora_destroy(lora);

    lora = load_lora(write_lora(lora_modules(), "good"));
    EXPECT_EQ(svdq_flux_lora_add(ctx_, model, lora, std::nanf(""), "nan", &id), SVDQ_ERROR_NON_FINITE) << last_error();
    EXPECT_EQ(svdq_flux_lora_add(ctx_, nullptr, lora, 1.0f, "x", &id), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_flux_lora_add(ctx_, model, nullptr, 1.0f, "x", &id), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_flux_lora_add(ctx_, model, lora, 1.0f, "x", nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(svdq_flux_lora_remove(ctx_, model, 12345), SVDQ_OK);
    EXPECT_NE(last_error().find("12345"), std::string::npos) << last_error();
    EXPECT_NE(svdq_flux_lora_set_strength(ctx_, model, 12345, 1.0f), SVDQ_OK);
    svdq_flux_lora_info info{};
    info.struct_size = sizeof info;
    EXPECT_EQ(svdq_flux_lora_get_info(model, 0, &info), SVDQ_ERROR_INVALID_ARGUMENT) << "no LoRA at index 0";
    svdq_lora_destroy(lora);

    int32_t count = -1;
    ASSERT_EQ(svdq_flux_lora_count(model, &count), SVDQ_OK);
    EXPECT_EQ(count, 0);
    EXPECT_EQ(forward(model), own) << "every refusal left the model as it was";
    svdq_flux_destroy(model);
}

// The LoRA merged by svdq_flux_quantize: the file computes what quantizing the
// merged model computes (same float weights in, so nearly the same file) and
// stays within SVDQuant's error of the merged float model.
TEST_F(CApiFluxLora, QuantizeMergesTheLoraIntoTheFile) {
    const std::vector<Module> modules = lora_modules();
    const float strength = 0.8f;
    const std::string merged_dir = write_merged_model(modules, strength);
    svdq_lora* lora = load_lora(write_lora(modules, "lora"));
    svdq_quantize_options o;
    svdq_quantize_options_init(&o);
    o.rank = 16;
    const std::string calibration = kModel + "/inputs.safetensors";
    const std::string with_lora = svdq::test::temp_path("with_lora.safetensors"), from_merged = svdq::test::temp_path("from_merged.safetensors");
    const svdq_lora_merge merge{lora, strength};
    ASSERT_EQ(svdq_flux_quantize(ctx_, kModel.c_str(), calibration.c_str(), with_lora.c_str(), &o, &merge, 1, nullptr, nullptr), SVDQ_OK)
        << last_error();
    ASSERT_EQ(svdq_flux_quantize(ctx_, merged_dir.c_str(), calibration.c_str(), from_merged.c_str(), &o, nullptr, 0, nullptr, nullptr), SVDQ_OK)
        << last_error();

    svdq_flux* a = load(with_lora);
    svdq_flux* b = load(from_merged);
    svdq_flux* reference = load(merged_dir);
    const std::vector<float> ya = forward(a), yb = forward(b), expected = forward(reference);
    // The two merges round float64 sums to F32 in their own order: a last-bit
    // difference in a weight may move one quantized value, no more.
    EXPECT_LT(relative_error(ya, yb), 1e-3);
    const double error = relative_error(ya, expected);
    std::printf("SVDQuant INT4 r16 with the LoRA merged vs the merged float model: %.4f\n", error);
    // Measured 0.0750; CApiFlux's calibrated file of flux-tiny itself measures
    // 0.065-0.067 against its own float model (bound 0.073).
    EXPECT_LT(error, 0.08);

    const svdq_lora_merge broken{nullptr, 1.0f};
    const std::string none = svdq::test::temp_path("none.safetensors");
    EXPECT_EQ(svdq_flux_quantize(ctx_, kModel.c_str(), calibration.c_str(), none.c_str(), &o, &broken, 1, nullptr, nullptr),
              SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_FALSE(fs::exists(none));
    svdq_flux_destroy(reference);
    svdq_flux_destroy(b);
    svdq_flux_destroy(a);
    svdq_lora_destroy(lora);
}
