// transformers' T5EncoderModel (v1.1) on tiny random models written by the
// test in T5EncoderModel's key layout, sharded with an index json as FLUX's
// text_encoder_2/ is, against float64 math from modeling_t5.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <utility>
#include <vector>

#include "backend/context.h"
#include "expect_error.h"
#include "guarded_backend.h"
#include "models/t5/t5_config.h"
#include "models/t5/t5_encoder.h"
#include "models/t5/t5_relative_position.h"
#include "test_util.h"
#include "text_encoder_fixture.h"
#include "text_encoder_reference.h"

namespace svdq {

namespace {

namespace fs = std::filesystem;
using test::Rows;

// d_kv * heads (24) differs from d_model (32), as the attention width may.
constexpr int64_t kVocab = 40, kModel = 32, kKv = 6, kHeads = 4, kInner = kKv * kHeads, kFf = 48, kLayers = 2;
constexpr int64_t kBuckets = 16, kMaxDistance = 20;  // distances 0..3 exact, 4..19 logarithmic, then the last bucket
constexpr int64_t kBatch = 2, kLength = 16;
// Max relative error against float64: measured 2.8e-7 to 4.5e-7 at every CPU
// level (float32 rounding through 2 blocks). Far inside the 1e-4.
constexpr double kBound = 1e-6;

std::string config_json(const std::string& feed_forward = "gated-gelu") {
    return "{\"architectures\": [\"T5EncoderModel\"], \"model_type\": \"t5\", \"vocab_size\": " + std::to_string(kVocab) +
           ", \"d_model\": " + std::to_string(kModel) + ", \"d_kv\": " + std::to_string(kKv) + ", \"d_ff\": " + std::to_string(kFf) +
           ", \"num_layers\": " + std::to_string(kLayers) + ", \"num_decoder_layers\": 3, \"num_heads\": " + std::to_string(kHeads) +
           ", \"relative_attention_num_buckets\": " + std::to_string(kBuckets) + ", \"relative_attention_max_distance\": " +
           std::to_string(kMaxDistance) + ", \"layer_norm_epsilon\": 1e-06, \"feed_forward_proj\": \"" + feed_forward +
           "\", \"is_gated_act\": true, \"dense_act_fn\": \"gelu_new\", \"tie_word_embeddings\": false}";
}

// Scores of order 1 without T5's missing 1/sqrt(d), a position bias of the
// same order, and norm weights away from 1, so every part moves the output.
test::TestTensors t5_tensors() {
    test::TestTensors t;
    test::add_random(t, "shared.weight", {kVocab, kModel}, 1.0f);
    test::add_random(t, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {kBuckets, kHeads}, 1.0f);
    for (int64_t i = 0; i < kLayers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        test::add_random(t, p + "0.layer_norm.weight", {kModel}, 0.3f, 1.0f);
        for (const char* proj : {"q", "k", "v"})
            test::add_random(t, p + "0.SelfAttention." + proj + ".weight", {kInner, kModel}, 0.8f / std::sqrt(float(kModel)));
        test::add_random(t, p + "0.SelfAttention.o.weight", {kModel, kInner}, 1.0f / std::sqrt(float(kInner)));
        test::add_random(t, p + "1.layer_norm.weight", {kModel}, 0.3f, 1.0f);
        test::add_random(t, p + "1.DenseReluDense.wi_0.weight", {kFf, kModel}, 1.0f / std::sqrt(float(kModel)));
        test::add_random(t, p + "1.DenseReluDense.wi_1.weight", {kFf, kModel}, 1.0f / std::sqrt(float(kModel)));
        test::add_random(t, p + "1.DenseReluDense.wo.weight", {kModel, kFf}, 1.0f / std::sqrt(float(kFf)));
    }
    test::add_random(t, "encoder.final_layer_norm.weight", {kModel}, 0.3f, 1.0f);
    return t;
}

// _relative_position_bucket (bidirectional) from its definition, in float64.
int64_t reference_bucket(int64_t rp) {
    const int64_t half = kBuckets / 2, exact = half / 2;
    const int64_t base = rp > 0 ? half : 0, distance = std::llabs(rp);
    if (distance < exact) return base + distance;
    const double large = exact + std::floor(std::log(double(distance) / exact) / std::log(double(kMaxDistance) / exact) * (half - exact));
    return base + std::min<int64_t>(static_cast<int64_t>(large), half - 1);
}

// T5Stack.forward of the encoder in float64: [batch * length, d_model].
// mask: empty, or [batch * length] 1 = token, 0 = padding.
Rows t5_reference(const test::TestTensors& t, const std::vector<int64_t>& ids, const std::vector<int64_t>& mask = {}) {
    const auto w = [&](const std::string& name) -> const std::vector<float>& { return t.at(name).values; };
    const int64_t rows = static_cast<int64_t>(ids.size()), length = rows / kBatch;
    Rows x(static_cast<size_t>(rows * kModel));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < kModel; ++j) x[static_cast<size_t>(r * kModel + j)] = w("shared.weight")[static_cast<size_t>(ids[static_cast<size_t>(r)] * kModel + j)];
    const std::vector<float>& table = w("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    const auto bias = [&](int64_t h, int64_t i, int64_t j) { return double(table[static_cast<size_t>(reference_bucket(j - i) * kHeads + h)]); };
    for (int64_t i = 0; i < kLayers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        Rows h = test::ref_rms_norm(x, kModel, w(p + "0.layer_norm.weight"), 1e-6);
        const Rows q = test::ref_linear(h, rows, kModel, w(p + "0.SelfAttention.q.weight"), kInner),
                   k = test::ref_linear(h, rows, kModel, w(p + "0.SelfAttention.k.weight"), kInner),
                   v = test::ref_linear(h, rows, kModel, w(p + "0.SelfAttention.v.weight"), kInner);
        Rows a(static_cast<size_t>(rows * kInner));
        for (int64_t b = 0; b < kBatch; ++b) {
            const auto item = [&](const Rows& m) { return Rows(m.begin() + b * length * kInner, m.begin() + (b + 1) * length * kInner); };
            std::vector<bool> keep;
            for (int64_t j = 0; j < length && !mask.empty(); ++j) keep.push_back(mask[static_cast<size_t>(b * length + j)] == 1);
            const Rows ab = test::ref_attention(item(q), item(k), item(v), length, kHeads, kKv, 1.0, /*causal=*/false, bias, keep);
            std::copy(ab.begin(), ab.end(), a.begin() + b * length * kInner);
        }
        test::ref_add(x, test::ref_linear(a, rows, kInner, w(p + "0.SelfAttention.o.weight"), kModel));
        h = test::ref_rms_norm(x, kModel, w(p + "1.layer_norm.weight"), 1e-6);
        Rows gate = test::ref_linear(h, rows, kModel, w(p + "1.DenseReluDense.wi_0.weight"), kFf);
        const Rows up = test::ref_linear(h, rows, kModel, w(p + "1.DenseReluDense.wi_1.weight"), kFf);
        for (size_t e = 0; e < gate.size(); ++e) gate[e] = test::gelu_tanh_ref(gate[e]) * up[e];
        test::ref_add(x, test::ref_linear(gate, rows, kFf, w(p + "1.DenseReluDense.wo.weight"), kModel));
    }
    return test::ref_rms_norm(x, kModel, w("encoder.final_layer_norm.weight"), 1e-6);
}

std::vector<float> run_t5(const fs::path& folder, const std::vector<int64_t>& ids, const std::vector<int64_t>& mask = {},
                          const BackendFactory& backend = {}) {
    Context ctx(test::context_options(), backend);
    const T5Encoder encoder(ctx, folder.string());
    std::vector<float> out(ids.size() * kModel);
    encoder.forward(ctx, ids.data(), kBatch, static_cast<int64_t>(ids.size()) / kBatch, mask.empty() ? nullptr : mask.data(), out.data());
    return out;
}

std::vector<int64_t> test_ids() {
    std::vector<int64_t> ids(kBatch * kLength);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 7 + 3) % kVocab);
    ids[20] = 1;  // T5's EOS, then padding 0
    for (size_t i = 21; i < ids.size(); ++i) ids[i] = 0;
    return ids;
}

class T5EncoderTest : public ::testing::Test {
protected:
    void SetUp() override { dir_ = test::fresh_folder("t5"); }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

}  // namespace

// Buckets derived by hand from _relative_position_bucket's definition.
TEST(T5RelativePosition, BucketsMatchHandDerivedValues) {
    // T5's defaults (32 buckets, max distance 128), bidirectional: 16 per
    // direction (keys after the query from 16), distances 0..7 exact, then
    // 8 + floor(log(d / 8) / log(16) * 8), at most 15.
    const std::vector<std::pair<int64_t, int64_t>> t5 = {{0, 0},    {1, 17},   {-1, 1},   {7, 23},   {-7, 7},   {8, 24},
                                                         {-8, 8},   {11, 24},  {12, 25},  {-12, 9},  {16, 26},  {-16, 10},
                                                         {20, 26},  {32, 28},  {-64, 14}, {-90, 14}, {100, 31}, {127, 31},
                                                         {128, 31}, {-1000, 15}};
    for (const auto& [rp, bucket] : t5) EXPECT_EQ(t5_relative_position_bucket(rp, true, 32, 128), bucket) << "distance " << rp;
    // Unidirectional (the decoder's): only keys before the query count,
    // 0..15 exact, then 16 + floor(log(d / 16) / log(8) * 16), at most 31.
    for (const auto& [rp, bucket] : std::vector<std::pair<int64_t, int64_t>>{{5, 0}, {-5, 5}, {-20, 17}, {-200, 31}})
        EXPECT_EQ(t5_relative_position_bucket(rp, false, 32, 128), bucket) << "distance " << rp;
    // The test model's 16 buckets, max distance 20: 8 per direction, 0..3
    // exact, then 4 + floor(log(d / 4) / log(5) * 4), at most 7.
    const std::vector<std::pair<int64_t, int64_t>> tiny = {{3, 11},  {-3, 3},  {4, 12},   {-5, 4},  {6, 13},
                                                           {-8, 5},  {10, 14}, {-12, 6},  {14, 15}, {-15, 7}, {20, 15}};
    for (const auto& [rp, bucket] : tiny) {
        EXPECT_EQ(t5_relative_position_bucket(rp, true, kBuckets, kMaxDistance), bucket) << "distance " << rp;
        EXPECT_EQ(reference_bucket(rp), bucket) << "the test's own reference, distance " << rp;
    }
}

// The bias matrix holds, per head, query and key, the table's entry of the
// key - query bucket: fewer queries than keys, more, and T5-XXL's 512 tokens
// (every bucket, both directions).
TEST(T5RelativePosition, BiasMatrixHoldsEachPairsBucket) {
    const int64_t heads = 3, buckets = 32, max_distance = 128;
    const std::vector<float> table = test::gaussian(static_cast<size_t>(buckets * heads), 7);
    for (const auto& [queries, keys] : std::vector<std::pair<int64_t, int64_t>>{{5, 9}, {9, 5}, {1, 1}, {512, 512}}) {
        std::vector<float> bias(static_cast<size_t>(heads * queries * keys), std::numeric_limits<float>::quiet_NaN());
        t5_position_bias(table.data(), buckets, heads, max_distance, queries, keys, bias.data());
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < queries; ++i)
                for (int64_t j = 0; j < keys; ++j) {
                    const int64_t bucket = t5_relative_position_bucket(j - i, true, buckets, max_distance);
                    ASSERT_EQ(bias[static_cast<size_t>((h * queries + i) * keys + j)], table[static_cast<size_t>(bucket * heads + h)])
                        << queries << " x " << keys << ", head " << h << ", query " << i << ", key " << j;
                }
    }
}

// Three F32 shards with their index: the last hidden state matches float64 math.
TEST_F(T5EncoderTest, ShardedF32MatchesFloat64Reference) {
    const test::TestTensors t = t5_tensors();
    test::write_transformers_folder(dir_, config_json(), t, SVDQ_DTYPE_F32, 3);
    const std::vector<int64_t> ids = test_ids();
    const double error = test::max_rel_error(run_t5(dir_, ids), t5_reference(t, ids));
    std::printf("T5 F32 shards: max rel error %.2e\n", error);
    EXPECT_LT(error, kBound);
}

// The mask option: padding keys get no attention; without it they do (FLUX).
TEST_F(T5EncoderTest, AttentionMaskMatchesFloat64Reference) {
    const test::TestTensors t = t5_tensors();
    test::write_transformers_folder(dir_, config_json(), t, SVDQ_DTYPE_F32, 3);
    const std::vector<int64_t> ids = test_ids();
    std::vector<int64_t> mask(ids.size(), 1);
    for (size_t i = 21; i < mask.size(); ++i) mask[i] = 0;
    const Rows masked = t5_reference(t, ids, mask);
    const double error = test::max_rel_error(run_t5(dir_, ids, mask), masked);
    const double effect = test::max_rel_error(t5_reference(t, ids), masked);
    std::printf("T5 masked: max rel error %.2e (the mask moves the output by %.2e)\n", error, effect);
    EXPECT_LT(error, kBound);
    EXPECT_GT(effect, 1e-2);  // so an ignored mask cannot pass
}

// The encoder computes only through backend ops: on the guarded backend
// (memory the host cannot touch) it gives the CPU backend's result bit for bit.
TEST_F(T5EncoderTest, RunsOnTheGuardedBackendBitForBit) {
    test::write_transformers_folder(dir_, config_json(), t5_tensors(), SVDQ_DTYPE_F32, 1);
    const std::vector<int64_t> ids = test_ids();
    std::vector<int64_t> mask(ids.size(), 1);
    mask[31] = 0;
    const BackendFactory guarded = [](ThreadPool& pool, svdq_cpu_level level) {
        return std::make_unique<test::GuardedBackend>(pool, level);
    };
    EXPECT_EQ(run_t5(dir_, ids, mask, guarded), run_t5(dir_, ids, mask));
}

// BF16 shards (FLUX's text_encoder_2 as published) and one F16 file compute
// the float64 math of the values they store; the tied embedding may be
// stored as encoder.embed_tokens.weight instead of shared.weight.
TEST_F(T5EncoderTest, HalfPrecisionWeightsMatchFloat64ReferenceOfTheirValues) {
    const std::vector<int64_t> ids = test_ids();
    for (const int32_t dtype : {SVDQ_DTYPE_BF16, SVDQ_DTYPE_F16}) {
        test::TestTensors t = test::rounded_to(dtype, t5_tensors());
        const Rows expected = t5_reference(t, ids);
        if (dtype == SVDQ_DTYPE_F16) {
            t["encoder.embed_tokens.weight"] = t.at("shared.weight");
            t.erase("shared.weight");
        }
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        test::write_transformers_folder(dir_, config_json(), t, dtype, dtype == SVDQ_DTYPE_BF16 ? 2 : 1);
        const double error = test::max_rel_error(run_t5(dir_, ids), expected);
        std::printf("T5 dtype %d: max rel error %.2e\n", dtype, error);
        EXPECT_LT(error, kBound) << "dtype " << dtype;
    }
}

// Named errors: a missing tensor, a wrong shape, tensors the config does not
// use, a missing shard, ids outside the vocabulary, a mask value other than
// 0 or 1, an unsupported feed-forward.
TEST_F(T5EncoderTest, BadInputIsNamed) {
    const auto load = [&](const test::TestTensors& t, const std::string& config, int shards) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        test::write_transformers_folder(dir_, config, t, SVDQ_DTYPE_F32, shards);
        Context ctx(test::context_options());
        T5Encoder encoder(ctx, dir_.string());
    };
    test::TestTensors missing = t5_tensors();
    missing.erase("encoder.block.1.layer.1.DenseReluDense.wo.weight");
    test::expect_error(SVDQ_ERROR_FORMAT, "no tensor 'encoder.block.1.layer.1.DenseReluDense.wo.weight'",
                       [&] { load(missing, config_json(), 2); });

    test::TestTensors wrong = t5_tensors();
    wrong["encoder.block.0.layer.0.SelfAttention.q.weight"] = {{kInner, kModel + 1}, std::vector<float>(kInner * (kModel + 1), 0.1f)};
    test::expect_error(SVDQ_ERROR_SHAPE_MISMATCH,
                       "'encoder.block.0.layer.0.SelfAttention.q.weight' has shape [24, 33], the config needs [24, 32]",
                       [&] { load(wrong, config_json(), 2); });

    test::TestTensors extra = t5_tensors();
    extra["encoder.block.2.layer.1.layer_norm.weight"] = {{kModel}, std::vector<float>(kModel, 1.0f)};
    test::expect_error(SVDQ_ERROR_FORMAT, "'encoder.block.2.layer.1.layer_norm.weight'", [&] { load(extra, config_json(), 2); });

    test::expect_error(SVDQ_ERROR_UNSUPPORTED, "\"feed_forward_proj\" \"relu\"", [&] { load(t5_tensors(), config_json("relu"), 1); });

    load(t5_tensors(), config_json(), 3);
    Context ctx(test::context_options());
    {  // closed before a shard goes: Windows deletes no mapped file
        const T5Encoder encoder(ctx, dir_.string());
        std::vector<int64_t> ids = test_ids();
        std::vector<float> out(ids.size() * kModel);
        ids[17] = kVocab;
        test::expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "token id 40 at flat index 17 is outside the vocabulary of 40",
                           [&] { encoder.forward(ctx, ids.data(), kBatch, kLength, nullptr, out.data()); });
        ids = test_ids();
        std::vector<int64_t> mask(ids.size(), 1);
        mask[5] = 2;
        test::expect_error(SVDQ_ERROR_INVALID_ARGUMENT, "attention_mask value 2 at flat index 5",
                           [&] { encoder.forward(ctx, ids.data(), kBatch, kLength, mask.data(), out.data()); });
    }
    fs::remove(dir_ / "model-00002-of-00003.safetensors");
    test::expect_error(SVDQ_ERROR_IO, "model-00002-of-00003.safetensors", [&] { (void)T5Encoder(ctx, dir_.string()); });
}

}  // namespace svdq
