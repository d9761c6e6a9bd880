// transformers' CLIPTextModel on tiny random models written by the test in
// CLIPTextModel's key layout, against float64 math from modeling_clip.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "backend/context.h"
#include "models/clip/clip_text_model.h"
#include "expect_error.h"
#include "guarded_backend.h"
#include "test_util.h"
#include "text_encoder_fixture.h"
#include "text_encoder_reference.h"

namespace svdq {

namespace {

namespace fs = std::filesystem;
using test::Rows;

constexpr int64_t kVocab = 50, kHidden = 32, kFf = 64, kLayers = 2, kHeads = 4, kPositions = 16;
constexpr int64_t kBatch = 2, kLength = 7;
// Max relative error against float64: measured 1.9e-7 to 3.8e-7 at every CPU
// level (float32 rounding through 2 layers). Far inside the 1e-4, and
// tight enough that LayerNorm's eps of 1e-5 used as 1e-6 fails.
constexpr double kBound = 1e-6;

std::string config_json(const std::string& act, int64_t eos) {
    return "{\"architectures\": [\"CLIPTextModel\"], \"model_type\": \"clip_text_model\", \"vocab_size\": " +
           std::to_string(kVocab) + ", \"hidden_size\": " + std::to_string(kHidden) + ", \"intermediate_size\": " +
           std::to_string(kFf) + ", \"num_hidden_layers\": " + std::to_string(kLayers) + ", \"num_attention_heads\": " +
           std::to_string(kHeads) + ", \"max_position_embeddings\": " + std::to_string(kPositions) + ", \"hidden_act\": \"" + act +
           "\", \"layer_norm_eps\": 1e-05, \"bos_token_id\": 0, \"eos_token_id\": " + std::to_string(eos) + ", \"projection_dim\": 16}";
}

// Weights large enough that every part of a layer moves the output: attention
// scores of order 1, norms' weights away from 1 and biases of 0.3.
test::TestTensors clip_tensors() {
    test::TestTensors t;
    const std::string p = "text_model.";
    test::add_random(t, p + "embeddings.token_embedding.weight", {kVocab, kHidden}, 1.0f);
    test::add_random(t, p + "embeddings.position_embedding.weight", {kPositions, kHidden}, 1.0f);
    const float wd = 1.5f / std::sqrt(float(kHidden)), wf = 1.0f / std::sqrt(float(kFf));
    for (int64_t i = 0; i < kLayers; ++i) {
        const std::string l = p + "encoder.layers." + std::to_string(i) + ".";
        for (const char* norm : {"layer_norm1", "layer_norm2"}) {
            test::add_random(t, l + norm + ".weight", {kHidden}, 0.3f, 1.0f);
            test::add_random(t, l + norm + ".bias", {kHidden}, 0.3f);
        }
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
            test::add_random(t, l + "self_attn." + proj + ".weight", {kHidden, kHidden}, wd);
            test::add_random(t, l + "self_attn." + proj + ".bias", {kHidden}, 0.3f);
        }
        test::add_random(t, l + "mlp.fc1.weight", {kFf, kHidden}, wd);
        test::add_random(t, l + "mlp.fc1.bias", {kFf}, 0.3f);
        test::add_random(t, l + "mlp.fc2.weight", {kHidden, kFf}, wf);
        test::add_random(t, l + "mlp.fc2.bias", {kHidden}, 0.3f);
    }
    test::add_random(t, p + "final_layer_norm.weight", {kHidden}, 0.3f, 1.0f);
    test::add_random(t, p + "final_layer_norm.bias", {kHidden}, 0.3f);
    return t;
}

double activation(const std::string& act, double x) {
    if (act == "quick_gelu") return x / (1.0 + std::exp(-1.702 * x));
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));  // "gelu"
}

// CLIPTextTransformer.forward in float64: the last hidden state [batch * length, hidden].
Rows clip_reference(const test::TestTensors& t, const std::string& act, const std::vector<int64_t>& ids) {
    const auto w = [&](const std::string& name) -> const std::vector<float>& { return t.at("text_model." + name).values; };
    const int64_t rows = static_cast<int64_t>(ids.size()), length = rows / kBatch, hd = kHidden / kHeads;
    Rows x(static_cast<size_t>(rows * kHidden));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < kHidden; ++j)
            x[static_cast<size_t>(r * kHidden + j)] = double(w("embeddings.token_embedding.weight")[static_cast<size_t>(ids[static_cast<size_t>(r)] * kHidden + j)]) +
                                                      w("embeddings.position_embedding.weight")[static_cast<size_t>(r % length * kHidden + j)];
    for (int64_t i = 0; i < kLayers; ++i) {
        const std::string l = "encoder.layers." + std::to_string(i) + ".";
        const auto proj = [&](const Rows& in, const std::string& name, int64_t k, int64_t n) {
            return test::ref_linear(in, rows, k, w(l + name + ".weight"), n, w(l + name + ".bias"));
        };
        const Rows h = test::ref_layer_norm(x, kHidden, w(l + "layer_norm1.weight"), w(l + "layer_norm1.bias"), 1e-5);
        const Rows q = proj(h, "self_attn.q_proj", kHidden, kHidden), k = proj(h, "self_attn.k_proj", kHidden, kHidden),
                   v = proj(h, "self_attn.v_proj", kHidden, kHidden);
        Rows a(x.size());
        for (int64_t b = 0; b < kBatch; ++b) {
            const auto item = [&](const Rows& m) {
                return Rows(m.begin() + b * length * kHidden, m.begin() + (b + 1) * length * kHidden);
            };
            const Rows ab = test::ref_attention(item(q), item(k), item(v), length, kHeads, hd, 1.0 / std::sqrt(double(hd)),
                                                /*causal=*/true, [](int64_t, int64_t, int64_t) { return 0.0; });
            std::copy(ab.begin(), ab.end(), a.begin() + b * length * kHidden);
        }
        test::ref_add(x, proj(a, "self_attn.out_proj", kHidden, kHidden));
        Rows f = proj(test::ref_layer_norm(x, kHidden, w(l + "layer_norm2.weight"), w(l + "layer_norm2.bias"), 1e-5), "mlp.fc1", kHidden, kFf);
        for (double& e : f) e = activation(act, e);
        test::ref_add(x, proj(f, "mlp.fc2", kFf, kHidden));
    }
    return test::ref_layer_norm(x, kHidden, w("final_layer_norm.weight"), w("final_layer_norm.bias"), 1e-5);
}

struct ClipOutput {
    std::vector<float> last, pooled;
    uint64_t weight_bytes = 0;
};

ClipOutput run_clip(const fs::path& folder, const std::vector<int64_t>& ids, const BackendFactory& backend = {}) {
    Context ctx(test::context_options(), backend);
    const ClipTextModel model(ctx, folder.string());
    ClipOutput out{std::vector<float>(ids.size() * kHidden), std::vector<float>(kBatch * kHidden), model.weight_bytes()};
    model.forward(ctx, ids.data(), kBatch, static_cast<int64_t>(ids.size()) / kBatch, out.last.data(), out.pooled.data());
    return out;
}

// Rows `positions` (one per batch item) of the reference's last hidden state.
Rows pooled_at(const Rows& last, const std::vector<int64_t>& positions, int64_t length) {
    Rows pooled;
    for (int64_t b = 0; b < kBatch; ++b) {
        const auto row = last.begin() + (b * length + positions[static_cast<size_t>(b)]) * kHidden;
        pooled.insert(pooled.end(), row, row + kHidden);
    }
    return pooled;
}

class ClipTextModelTest : public ::testing::Test {
protected:
    void SetUp() override { dir_ = test::fresh_folder("clip"); }
    void TearDown() override { fs::remove_all(dir_); }

    // Writes `t` in `dtype` with the config (act, eos), runs `ids` and checks
    // both outputs against float64 math, pooled at the hand-given positions.
    ClipOutput expect_matches_reference(const test::TestTensors& t, const std::string& act, int64_t eos, int32_t dtype,
                                        const std::vector<int64_t>& ids, const std::vector<int64_t>& eos_positions) {
        test::write_transformers_folder(dir_, config_json(act, eos), t, dtype, 1);
        ClipOutput got = run_clip(dir_, ids);
        const Rows last = clip_reference(t, act, ids);
        const double last_error = test::max_rel_error(got.last, last);
        const double pooled_error = test::max_rel_error(got.pooled, pooled_at(last, eos_positions, kLength));
        std::printf("CLIP %s, eos %lld, dtype %d: last_hidden_state %.2e, pooled %.2e max rel error\n", act.c_str(),
                    static_cast<long long>(eos), dtype, last_error, pooled_error);
        EXPECT_LT(last_error, kBound) << act << ", dtype " << dtype;
        EXPECT_LT(pooled_error, kBound) << act << ", dtype " << dtype;
        return got;
    }

    fs::path dir_;
};

// CLIP-L's ids as FLUX's pipeline gives them: BOS 48, words, then EOS 49
// padded with more EOS; its legacy eos_token_id 2 pools at the first largest id.
const std::vector<int64_t> kLegacyIds = {48, 5, 17, 49, 49, 49, 49,  //
                                         48, 30, 12, 7, 22, 49, 49};

}  // namespace

// The EOS position, picked as transformers picks it (hand-derived positions).
TEST(ClipEosPositions, ArgmaxForEos2ElseFirstEos) {
    EXPECT_EQ(clip_eos_positions(kLegacyIds.data(), 2, 7, 2), (std::vector<int64_t>{3, 5}));
    const std::vector<int64_t> ids = {48, 5, 45, 49, 45, 0, 1,  //
                                      48, 1, 2, 3, 4, 5, 6};
    EXPECT_EQ(clip_eos_positions(ids.data(), 2, 7, 2), (std::vector<int64_t>{3, 0}));   // argmax, first of the largest
    EXPECT_EQ(clip_eos_positions(ids.data(), 2, 7, 45), (std::vector<int64_t>{2, 0}));  // first 45; none: 0
}

// quick_gelu, eos_token_id 2 (CLIP-L): both outputs match float64 math.
TEST_F(ClipTextModelTest, QuickGeluMatchesFloat64Reference) {
    expect_matches_reference(clip_tensors(), "quick_gelu", 2, SVDQ_DTYPE_F32, kLegacyIds, {3, 5});
}

// hidden_act "gelu" (erf) and eos_token_id 45: the pooled row is the first 45,
// not the largest id; a row without 45 pools position 0.
TEST_F(ClipTextModelTest, GeluAndFirstEosPoolingMatchFloat64Reference) {
    const std::vector<int64_t> ids = {48, 5, 45, 49, 45, 0, 1,  //
                                      48, 1, 2, 3, 4, 5, 6};
    expect_matches_reference(clip_tensors(), "gelu", 45, SVDQ_DTYPE_F32, ids, {2, 0});
}

// F16 and BF16 files compute the float64 math of the values they store. BF16
// stays 16-bit in memory (embedding table and linears); F16 keeps its
// embedding table in F16 and widens its linears to fp32 (no F16 GEMM).
TEST_F(ClipTextModelTest, HalfPrecisionWeightsMatchFloat64ReferenceOfTheirValues) {
    test::write_transformers_folder(dir_, config_json("quick_gelu", 2), clip_tensors(), SVDQ_DTYPE_F32, 1);
    const uint64_t f32_bytes = run_clip(dir_, kLegacyIds).weight_bytes;
    for (const int32_t dtype : {SVDQ_DTYPE_F16, SVDQ_DTYPE_BF16}) {
        const ClipOutput got =
            expect_matches_reference(test::rounded_to(dtype, clip_tensors()), "quick_gelu", 2, dtype, kLegacyIds, {3, 5});
        const double ratio = double(got.weight_bytes) / double(f32_bytes);
        std::printf("CLIP dtype %d: %.3f of the F32 model's bytes\n", dtype, ratio);
        // Hand count, measured alike: of the 19264 values, the 1600 of the
        // token embedding halve under F16 (0.958); under BF16 all but the
        // 1280 of norms, biases and the position table (0.533). An fp32
        // embedding gives 1.0 under F16 and 0.574 under BF16, fp32 linears
        // 0.958 under BF16.
        EXPECT_LT(ratio, dtype == SVDQ_DTYPE_BF16 ? 0.54 : 0.965) << "dtype " << dtype;
    }
}

// The model computes only through backend ops: on the guarded backend
// (memory the host cannot touch) it gives the CPU backend's result bit for bit.
TEST_F(ClipTextModelTest, RunsOnTheGuardedBackendBitForBit) {
    test::write_transformers_folder(dir_, config_json("quick_gelu", 2), clip_tensors(), SVDQ_DTYPE_F32, 1);
    const BackendFactory guarded = [](ThreadPool& pool, svdq_cpu_level level) {
        return std::make_unique<test::GuardedBackend>(pool, level);
    };
    const ClipOutput on_guarded = run_clip(dir_, kLegacyIds, guarded), on_cpu = run_clip(dir_, kLegacyIds);
    EXPECT_EQ(on_guarded.last, on_cpu.last);
    EXPECT_EQ(on_guarded.pooled, on_cpu.pooled);
}

// A tensor missing, one of the wrong shape, one the config does not use, ids
// outside the vocabulary or longer than the position table: named errors.
TEST_F(ClipTextModelTest, BadInputIsNamed) {
    const std::string config = config_json("quick_gelu", 2);
    const auto load = [&](const test::TestTensors& t) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        test::write_transformers_folder(dir_, config, t, SVDQ_DTYPE_F32, 1);
        Context ctx(test::context_options());
        ClipTextModel model(ctx, dir_.string());
    };
    test::TestTensors missing = clip_tensors();
    missing.erase("text_model.encoder.layers.1.mlp.fc2.bias");
    test::expect_error(SVDQ_ERROR_FORMAT, "no tensor 'text_model.encoder.layers.1.mlp.fc2.bias'", [&] { load(missing); });

    test::TestTensors wrong = clip_tensors();
    wrong["text_model.encoder.layers.0.mlp.fc1.weight"] = {{kFf, kHidden + 1}, std::vector<float>(kFf * (kHidden + 1), 0.1f)};
    test::expect_error(SVDQ_ERROR_SHAPE_MISMATCH, "'text_model.encoder.layers.0.mlp.fc1.weight' has shape [64, 33], the config needs [64, 32]",
                       [&] { load(wrong); });

    test::TestTensors extra = clip_tensors();
    extra["text_model.encoder.layers.2.mlp.fc2.bias"] = {{kHidden}, std::vector<float>(kHidden, 0.1f)};
    test::expect_error(SVDQ_ERROR_FORMAT, "'text_model.encoder.layers.2.mlp.fc2.bias'", [&] { load(extra); });

    test::TestTensors with_position_ids = clip_tensors();  // transformers' buffer in older files: not a weight
    with_position_ids["text_model.embeddings.position_ids"] = {{1, kPositions}, std::vector<float>(kPositions, 1.0f)};
    EXPECT_NO_THROW(load(with_position_ids));

    Context ctx(test::context_options());
    const ClipTextModel model(ctx, dir_.string());
    std::vector<float> last(kBatch * kPositions * 2 * kHidden), pooled(kBatch * kHidden);
    std::vector<int64_t> ids = kLegacyIds;
    ids[9] = kVocab;
    test::expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "token id 50 at flat index 9 is outside the vocabulary of 50",
                       [&] { model.forward(ctx, ids.data(), kBatch, kLength, last.data(), pooled.data()); });
    ids[9] = -1;
    test::expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "token id -1",
                       [&] { model.forward(ctx, ids.data(), kBatch, kLength, last.data(), pooled.data()); });
    const std::vector<int64_t> too_long(kBatch * (kPositions + 1), 1);
    test::expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "max_position_embeddings",
                       [&] { model.forward(ctx, too_long.data(), kBatch, kPositions + 1, last.data(), pooled.data()); });

    test::expect_error(SVDQ_ERROR_IO, "no such folder", [&] { (void)ClipTextModel(ctx, (dir_ / "absent").string()); });
    fs::remove(dir_ / "config.json");
    test::expect_error(SVDQ_ERROR_IO, "config.json: missing", [&] { (void)ClipTextModel(ctx, dir_.string()); });
}

TEST(ClipTextConfig, UnsupportedActivationIsNamed) {
    test::expect_error(SVDQ_ERROR_UNSUPPORTED, "\"hidden_act\" \"relu\"",
                       [] { clip_text_config_from_json(nlohmann::json::parse("{\"hidden_act\": \"relu\"}"), "config.json"); });
    test::expect_error(SVDQ_ERROR_FORMAT, "not divisible",
                       [] { clip_text_config_from_json(nlohmann::json::parse("{\"hidden_size\": 30, \"num_attention_heads\": 4}"), "c"); });
}

}  // namespace svdq
