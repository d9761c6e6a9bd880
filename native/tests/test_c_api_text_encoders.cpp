// The text encoders through the C API: a FLUX-style pipeline folder (tiny CLIP
// in text_encoder/, tiny sharded T5 in text_encoder_2/) loads through
// svdq_clip_load / svdq_t5_load, and each forward gives the C++ classes' bits
// for I64 and I32 ids alike; bad handles, shapes, dtypes and folders are named.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "backend/context.h"
#include "models/clip/clip_text_model.h"
#include "models/t5/t5_encoder.h"
#include "svdquant.h"
#include "test_util.h"
#include "text_encoder_fixture.h"

namespace svdq {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kClipVocab = 50, kClipHidden = 32, kClipFf = 64, kClipLayers = 2, kClipHeads = 4, kClipPositions = 16;
constexpr int64_t kT5Vocab = 40, kT5Model = 24, kT5Kv = 8, kT5Heads = 4, kT5Ff = 40, kT5Layers = 2;
constexpr int64_t kBatch = 2, kClipLength = 7, kT5Length = 9;

std::string clip_config() {
    return "{\"architectures\": [\"CLIPTextModel\"], \"vocab_size\": " + std::to_string(kClipVocab) + ", \"hidden_size\": " +
           std::to_string(kClipHidden) + ", \"intermediate_size\": " + std::to_string(kClipFf) + ", \"num_hidden_layers\": " +
           std::to_string(kClipLayers) + ", \"num_attention_heads\": " + std::to_string(kClipHeads) +
           ", \"max_position_embeddings\": " + std::to_string(kClipPositions) +
           ", \"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-05, \"eos_token_id\": 2}";
}

std::string t5_config() {
    return "{\"architectures\": [\"T5EncoderModel\"], \"vocab_size\": " + std::to_string(kT5Vocab) + ", \"d_model\": " +
           std::to_string(kT5Model) + ", \"d_kv\": " + std::to_string(kT5Kv) + ", \"d_ff\": " + std::to_string(kT5Ff) +
           ", \"num_layers\": " + std::to_string(kT5Layers) + ", \"num_heads\": " + std::to_string(kT5Heads) +
           ", \"relative_attention_num_buckets\": 16, \"relative_attention_max_distance\": 20, \"layer_norm_epsilon\": 1e-06,"
           " \"feed_forward_proj\": \"gated-gelu\"}";
}

test::TestTensors clip_tensors() {
    test::TestTensors t;
    const std::string p = "text_model.";
    test::add_random(t, p + "embeddings.token_embedding.weight", {kClipVocab, kClipHidden}, 1.0f);
    test::add_random(t, p + "embeddings.position_embedding.weight", {kClipPositions, kClipHidden}, 1.0f);
    for (int64_t i = 0; i < kClipLayers; ++i) {
        const std::string l = p + "encoder.layers." + std::to_string(i) + ".";
        for (const char* norm : {"layer_norm1", "layer_norm2"}) {
            test::add_random(t, l + norm + ".weight", {kClipHidden}, 0.3f, 1.0f);
            test::add_random(t, l + norm + ".bias", {kClipHidden}, 0.3f);
        }
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
            test::add_random(t, l + "self_attn." + proj + ".weight", {kClipHidden, kClipHidden}, 0.25f);
            test::add_random(t, l + "self_attn." + proj + ".bias", {kClipHidden}, 0.3f);
        }
        test::add_random(t, l + "mlp.fc1.weight", {kClipFf, kClipHidden}, 0.25f);
        test::add_random(t, l + "mlp.fc1.bias", {kClipFf}, 0.3f);
        test::add_random(t, l + "mlp.fc2.weight", {kClipHidden, kClipFf}, 0.125f);
        test::add_random(t, l + "mlp.fc2.bias", {kClipHidden}, 0.3f);
    }
    test::add_random(t, p + "final_layer_norm.weight", {kClipHidden}, 0.3f, 1.0f);
    test::add_random(t, p + "final_layer_norm.bias", {kClipHidden}, 0.3f);
    return t;
}

test::TestTensors t5_tensors() {
    test::TestTensors t;
    const int64_t inner = kT5Kv * kT5Heads;
    test::add_random(t, "shared.weight", {kT5Vocab, kT5Model}, 1.0f);
    test::add_random(t, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {16, kT5Heads}, 1.0f);
    for (int64_t i = 0; i < kT5Layers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        test::add_random(t, p + "0.layer_norm.weight", {kT5Model}, 0.3f, 1.0f);
        for (const char* proj : {"q", "k", "v"}) test::add_random(t, p + "0.SelfAttention." + proj + ".weight", {inner, kT5Model}, 0.15f);
        test::add_random(t, p + "0.SelfAttention.o.weight", {kT5Model, inner}, 0.18f);
        test::add_random(t, p + "1.layer_norm.weight", {kT5Model}, 0.3f, 1.0f);
        test::add_random(t, p + "1.DenseReluDense.wi_0.weight", {kT5Ff, kT5Model}, 0.2f);
        test::add_random(t, p + "1.DenseReluDense.wi_1.weight", {kT5Ff, kT5Model}, 0.2f);
        test::add_random(t, p + "1.DenseReluDense.wo.weight", {kT5Model, kT5Ff}, 0.16f);
    }
    test::add_random(t, "encoder.final_layer_norm.weight", {kT5Model}, 0.3f, 1.0f);
    return t;
}

// Ids in the vocabulary; with CLIP's eos_token_id 2 the largest id of a row is its EOS.
std::vector<int64_t> ids_of(int64_t vocab, int64_t length, uint64_t seed) {
    std::vector<int64_t> ids(static_cast<size_t>(kBatch * length));
    std::mt19937_64 rng(seed);
    for (int64_t& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
    return ids;
}

std::string last_error() { return svdq_last_error_message(); }

// Expects `status` and `part` in the thread's last error message.
void expect_status(svdq_status got, svdq_status want, const std::string& part) {
    const std::string message = last_error();
    EXPECT_EQ(got, want) << message;
    EXPECT_NE(message.find(part), std::string::npos) << "no '" << part << "' in: " << message;
}

// An owned svdq_tensor of `dtype` and `shape`, filled from `values` (ids as I64 or I32, else F32).
struct OwnedTensor {
    svdq_tensor* t = nullptr;
    OwnedTensor(int32_t dtype, std::vector<int64_t> shape) {
        EXPECT_EQ(svdq_tensor_create(dtype, shape.data(), static_cast<int32_t>(shape.size()), &t), SVDQ_OK) << last_error();
    }
    OwnedTensor(OwnedTensor&& other) noexcept : t(other.t) { other.t = nullptr; }
    ~OwnedTensor() { svdq_tensor_destroy(t); }
    OwnedTensor(const OwnedTensor&) = delete;
    OwnedTensor& operator=(const OwnedTensor&) = delete;
    void* data() const {
        void* d = nullptr;
        svdq_tensor_get_data(t, &d, nullptr);
        return d;
    }
    std::vector<float> floats(size_t count) const {
        const float* f = static_cast<const float*>(data());
        return std::vector<float>(f, f + count);
    }
};

OwnedTensor ids_tensor(int32_t dtype, const std::vector<int64_t>& ids, int64_t length) {
    OwnedTensor t(dtype, {static_cast<int64_t>(ids.size()) / length, length});
    for (size_t i = 0; i < ids.size(); ++i) {
        if (dtype == SVDQ_DTYPE_I64) static_cast<int64_t*>(t.data())[i] = ids[i];
        else static_cast<int32_t*>(t.data())[i] = static_cast<int32_t>(ids[i]);
    }
    return t;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class CApiTextEncoders : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = test::fresh_folder("text_encoders_pipeline");
        std::ofstream(root_ / "model_index.json") << "{\"_class_name\": \"FluxPipeline\"}";
        fs::create_directories(root_ / "text_encoder");
        fs::create_directories(root_ / "text_encoder_2");
        test::write_transformers_folder(root_ / "text_encoder", clip_config(), clip_tensors(), SVDQ_DTYPE_F32, 1);
        test::write_transformers_folder(root_ / "text_encoder_2", t5_config(), t5_tensors(), SVDQ_DTYPE_BF16, 3);
        const svdq_context_options o = test::context_options();
        ASSERT_EQ(svdq_context_create(&o, &ctx_), SVDQ_OK) << last_error();
    }
    void TearDown() override {
        svdq_context_destroy(ctx_);
        fs::remove_all(root_);
    }

    svdq_clip* load_clip(const fs::path& path) {
        svdq_clip* clip = nullptr;
        EXPECT_EQ(svdq_clip_load(ctx_, path.string().c_str(), &clip), SVDQ_OK) << last_error();
        return clip;
    }

    svdq_t5* load_t5(const fs::path& path) {
        svdq_t5* t5 = nullptr;
        EXPECT_EQ(svdq_t5_load(ctx_, path.string().c_str(), nullptr, &t5), SVDQ_OK) << last_error();
        return t5;
    }

    fs::path root_;
    svdq_context* ctx_ = nullptr;
};

TEST_F(CApiTextEncoders, ClipForwardIsTheClassesBitForBitWithI64AndI32Ids) {
    const std::vector<int64_t> ids = ids_of(kClipVocab, kClipLength, 7);
    Context cpp(test::context_options());
    const ClipTextModel model(cpp, (root_ / "text_encoder").string());
    std::vector<float> last(ids.size() * kClipHidden), pooled(kBatch * kClipHidden);
    model.forward(cpp, ids.data(), kBatch, kClipLength, last.data(), pooled.data());

    svdq_clip* clip = load_clip(root_);  // the pipeline folder: its text_encoder/
    ASSERT_NE(clip, nullptr);
    for (int32_t dtype : {SVDQ_DTYPE_I64, SVDQ_DTYPE_I32}) {
        SCOPED_TRACE(dtype == SVDQ_DTYPE_I64 ? "I64 ids" : "I32 ids");
        const OwnedTensor in = ids_tensor(dtype, ids, kClipLength);
        const OwnedTensor out_last(SVDQ_DTYPE_F32, {kBatch, kClipLength, kClipHidden}), out_pooled(SVDQ_DTYPE_F32, {kBatch, kClipHidden});
        ASSERT_EQ(svdq_clip_forward(ctx_, clip, in.t, out_last.t, out_pooled.t), SVDQ_OK) << last_error();
        EXPECT_TRUE(same_bits(out_last.floats(last.size()), last));
        EXPECT_TRUE(same_bits(out_pooled.floats(pooled.size()), pooled));

        // Either output alone is the same values.
        const OwnedTensor pooled_only(SVDQ_DTYPE_F32, {kBatch, kClipHidden});
        ASSERT_EQ(svdq_clip_forward(ctx_, clip, in.t, nullptr, pooled_only.t), SVDQ_OK) << last_error();
        EXPECT_TRUE(same_bits(pooled_only.floats(pooled.size()), pooled));
    }

    svdq_clip_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_clip_get_info(clip, &info), SVDQ_OK) << last_error();
    EXPECT_EQ(info.hidden_size, kClipHidden);
    EXPECT_EQ(info.intermediate_size, kClipFf);
    EXPECT_EQ(info.num_hidden_layers, kClipLayers);
    EXPECT_EQ(info.num_attention_heads, kClipHeads);
    EXPECT_EQ(info.max_position_embeddings, kClipPositions);
    EXPECT_EQ(info.vocab_size, kClipVocab);
    EXPECT_EQ(info.eos_token_id, 2);
    EXPECT_EQ(info.weight_bytes, model.weight_bytes());
    svdq_clip_destroy(clip);
}

TEST_F(CApiTextEncoders, T5ForwardIsTheClassesBitForBitWithI64AndI32IdsAndMask) {
    const std::vector<int64_t> ids = ids_of(kT5Vocab, kT5Length, 11);
    std::vector<int64_t> mask(ids.size(), 1);
    for (int64_t j = 6; j < kT5Length; ++j) mask[static_cast<size_t>(kT5Length + j)] = 0;  // row 1 padded after 6 tokens
    Context cpp(test::context_options());
    const T5Encoder model(cpp, (root_ / "text_encoder_2").string());
    std::vector<float> plain(ids.size() * kT5Model), masked(ids.size() * kT5Model);
    model.forward(cpp, ids.data(), kBatch, kT5Length, nullptr, plain.data());
    model.forward(cpp, ids.data(), kBatch, kT5Length, mask.data(), masked.data());
    ASSERT_FALSE(same_bits(plain, masked)) << "the mask must change row 1";

    svdq_t5* t5 = load_t5(root_);  // the pipeline folder: its text_encoder_2/
    ASSERT_NE(t5, nullptr);
    for (int32_t dtype : {SVDQ_DTYPE_I64, SVDQ_DTYPE_I32}) {
        SCOPED_TRACE(dtype == SVDQ_DTYPE_I64 ? "I64 ids" : "I32 ids");
        const OwnedTensor in = ids_tensor(dtype, ids, kT5Length), in_mask = ids_tensor(dtype, mask, kT5Length);
        const OwnedTensor out(SVDQ_DTYPE_F32, {kBatch, kT5Length, kT5Model});
        ASSERT_EQ(svdq_t5_forward(ctx_, t5, in.t, nullptr, out.t), SVDQ_OK) << last_error();
        EXPECT_TRUE(same_bits(out.floats(plain.size()), plain));
        ASSERT_EQ(svdq_t5_forward(ctx_, t5, in.t, in_mask.t, out.t), SVDQ_OK) << last_error();
        EXPECT_TRUE(same_bits(out.floats(masked.size()), masked));
    }

    svdq_t5_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_t5_get_info(t5, &info), SVDQ_OK) << last_error();
    EXPECT_EQ(info.d_model, kT5Model);
    EXPECT_EQ(info.d_kv, kT5Kv);
    EXPECT_EQ(info.d_ff, kT5Ff);
    EXPECT_EQ(info.num_layers, kT5Layers);
    EXPECT_EQ(info.num_heads, kT5Heads);
    EXPECT_EQ(info.vocab_size, kT5Vocab);
    EXPECT_EQ(info.scheme, SVDQ_SCHEME_FLOAT);
    EXPECT_EQ(info.weight_bytes, model.weight_bytes());
    svdq_t5_destroy(t5);
}

TEST_F(CApiTextEncoders, EncoderFoldersLoadDirectly) {
    svdq_clip* clip = load_clip(root_ / "text_encoder");
    svdq_t5* t5 = load_t5(root_ / "text_encoder_2");
    EXPECT_NE(clip, nullptr);
    EXPECT_NE(t5, nullptr);
    svdq_clip_destroy(clip);
    svdq_t5_destroy(t5);
}

TEST_F(CApiTextEncoders, BadHandlesShapesAndDtypesAreNamed) {
    svdq_clip* clip = load_clip(root_);
    svdq_t5* t5 = load_t5(root_);
    ASSERT_NE(clip, nullptr);
    ASSERT_NE(t5, nullptr);
    const std::vector<int64_t> ids = ids_of(kClipVocab, kClipLength, 3);
    const OwnedTensor in = ids_tensor(SVDQ_DTYPE_I64, ids, kClipLength);
    const OwnedTensor pooled(SVDQ_DTYPE_F32, {kBatch, kClipHidden}), t5_out(SVDQ_DTYPE_F32, {kBatch, kClipLength, kT5Model});

    expect_status(svdq_clip_forward(nullptr, clip, in.t, nullptr, pooled.t), SVDQ_ERROR_INVALID_ARGUMENT, "context is NULL");
    expect_status(svdq_clip_forward(ctx_, nullptr, in.t, nullptr, pooled.t), SVDQ_ERROR_INVALID_ARGUMENT, "clip is NULL");
    expect_status(svdq_clip_forward(ctx_, clip, nullptr, nullptr, pooled.t), SVDQ_ERROR_INVALID_ARGUMENT, "ids is NULL");
    expect_status(svdq_clip_forward(ctx_, clip, in.t, nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "both NULL");
    expect_status(svdq_t5_forward(ctx_, nullptr, in.t, nullptr, t5_out.t), SVDQ_ERROR_INVALID_ARGUMENT, "t5 is NULL");
    expect_status(svdq_t5_forward(ctx_, t5, in.t, nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "out is NULL");

    const OwnedTensor float_ids(SVDQ_DTYPE_F32, {kBatch, kClipLength}), flat_ids(SVDQ_DTYPE_I64, {kBatch * kClipLength});
    expect_status(svdq_clip_forward(ctx_, clip, float_ids.t, nullptr, pooled.t), SVDQ_ERROR_DTYPE, "ids is F32; it must be I64 or I32");
    expect_status(svdq_t5_forward(ctx_, t5, flat_ids.t, nullptr, t5_out.t), SVDQ_ERROR_SHAPE_MISMATCH, "ids has shape [14]; it must be [B, L]");
    const OwnedTensor short_mask(SVDQ_DTYPE_I64, {kBatch, kClipLength - 1});
    expect_status(svdq_t5_forward(ctx_, t5, in.t, short_mask.t, t5_out.t), SVDQ_ERROR_SHAPE_MISMATCH,
                  "attention_mask has shape [2, 6], the ids' is [2, 7]");

    const OwnedTensor wide_pooled(SVDQ_DTYPE_F32, {kBatch, kClipHidden + 1}), f16_pooled(SVDQ_DTYPE_F16, {kBatch, kClipHidden});
    expect_status(svdq_clip_forward(ctx_, clip, in.t, nullptr, wide_pooled.t), SVDQ_ERROR_SHAPE_MISMATCH, "out_pooled");
    expect_status(svdq_clip_forward(ctx_, clip, in.t, nullptr, f16_pooled.t), SVDQ_ERROR_DTYPE, "out_pooled");
    const OwnedTensor wrong_t5_out(SVDQ_DTYPE_F32, {kBatch, kClipLength, kClipHidden});
    expect_status(svdq_t5_forward(ctx_, t5, in.t, nullptr, wrong_t5_out.t), SVDQ_ERROR_SHAPE_MISMATCH, "out");

    // An id outside the vocabulary (T5's is 40; CLIP's 50) and a CLIP row longer than its positions.
    std::vector<int64_t> outside = ids;
    outside[5] = kClipVocab;
    const OwnedTensor bad = ids_tensor(SVDQ_DTYPE_I32, outside, kClipLength);
    expect_status(svdq_clip_forward(ctx_, clip, bad.t, nullptr, pooled.t), SVDQ_ERROR_INVALID_ARGUMENT,
                  "token id 50 at flat index 5 is outside the vocabulary of 50");
    expect_status(svdq_t5_forward(ctx_, t5, bad.t, nullptr, t5_out.t), SVDQ_ERROR_INVALID_ARGUMENT, "outside the vocabulary of 40");
    const OwnedTensor too_long(SVDQ_DTYPE_I64, {1, kClipPositions + 1});
    const OwnedTensor long_pooled(SVDQ_DTYPE_F32, {1, kClipHidden});
    expect_status(svdq_clip_forward(ctx_, clip, too_long.t, nullptr, long_pooled.t), SVDQ_ERROR_INVALID_ARGUMENT, "max_position_embeddings");

    svdq_clip_info newer{};
    newer.struct_size = sizeof newer + 8;  // a newer header's struct than this library's
    expect_status(svdq_clip_get_info(clip, &newer), SVDQ_ERROR_INVALID_ARGUMENT, "svdq_clip_info->struct_size");
    expect_status(svdq_t5_get_info(nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "t5 is NULL");
    svdq_clip_destroy(clip);
    svdq_t5_destroy(t5);
}

TEST_F(CApiTextEncoders, BadFoldersAndUnbuiltSchemesAreNamed) {
    svdq_clip* clip = nullptr;
    svdq_t5* t5 = nullptr;
    expect_status(svdq_clip_load(ctx_, nullptr, &clip), SVDQ_ERROR_INVALID_ARGUMENT, "path is NULL");
    expect_status(svdq_clip_load(ctx_, root_.string().c_str(), nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "out_clip is NULL");
    expect_status(svdq_t5_load(nullptr, root_.string().c_str(), nullptr, &t5), SVDQ_ERROR_INVALID_ARGUMENT, "context is NULL");

    // A pipeline folder without the encoder's subfolder; an encoder folder without config.json.
    fs::remove_all(root_ / "text_encoder_2");
    expect_status(svdq_t5_load(ctx_, root_.string().c_str(), nullptr, &t5), SVDQ_ERROR_IO, "without text_encoder_2/");
    EXPECT_EQ(t5, nullptr);
    fs::remove(root_ / "text_encoder" / "config.json");
    expect_status(svdq_clip_load(ctx_, root_.string().c_str(), &clip), SVDQ_ERROR_IO, "config.json");
    EXPECT_EQ(clip, nullptr);

    // A config that does not fit the weights names the tensor, its shape and the config's.
    std::string wide = clip_config();
    wide.replace(wide.find("\"intermediate_size\": 64"), 23, "\"intermediate_size\": 65");
    std::ofstream(root_ / "text_encoder" / "config.json") << wide;
    expect_status(svdq_clip_load(ctx_, root_.string().c_str(), &clip), SVDQ_ERROR_SHAPE_MISMATCH,
                  "'text_model.encoder.layers.0.mlp.fc1.weight' has shape [64, 32], the config needs [65, 32]");
    EXPECT_EQ(clip, nullptr);

    // The scheme reaches the encoder: W4A16 quantizes at load, which needs K a
    // multiple of INT4's group of 64 (this model's d_model is 24): refused by
    // name. A float encoder is not saved as a 4-bit file. test_t5_w4a16 and
    // FluxPipelineTests cover 4-bit layers and the file.
    fs::create_directories(root_ / "text_encoder_2");
    test::write_transformers_folder(root_ / "text_encoder_2", t5_config(), t5_tensors(), SVDQ_DTYPE_F32, 1);
    svdq_t5_load_options o;
    ASSERT_EQ(svdq_t5_load_options_init(&o), SVDQ_OK);
    EXPECT_EQ(o.scheme, SVDQ_SCHEME_FLOAT);
    o.scheme = 7;
    expect_status(svdq_t5_load(ctx_, root_.string().c_str(), &o, &t5), SVDQ_ERROR_INVALID_ARGUMENT, "scheme");
    o.scheme = SVDQ_SCHEME_W4A4;
    expect_status(svdq_t5_load(ctx_, root_.string().c_str(), &o, &t5), SVDQ_ERROR_UNSUPPORTED, "FLOAT or W4A16");
    o.scheme = SVDQ_SCHEME_W4A16;
    expect_status(svdq_t5_load(ctx_, root_.string().c_str(), &o, &t5), SVDQ_ERROR_SHAPE_MISMATCH, "W4A16 needs a multiple of 64");
    EXPECT_EQ(t5, nullptr);
    t5 = load_t5(root_);
    ASSERT_NE(t5, nullptr);
    expect_status(svdq_t5_save(t5, (root_ / "t5.safetensors").string().c_str()), SVDQ_ERROR_UNSUPPORTED, "is float");
    EXPECT_FALSE(fs::exists(root_ / "t5.safetensors"));
    expect_status(svdq_t5_save(t5, nullptr), SVDQ_ERROR_INVALID_ARGUMENT, "path is NULL");
    svdq_t5_destroy(t5);
}

}  // namespace

}  // namespace svdq
