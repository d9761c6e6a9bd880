// Flavour detection: each kind of checkpoint is recognised, and what its
// flavour requires is checked.
#include <gtest/gtest.h>

#include "core/error.h"
#include "format_test_util.h"
#include "formats/checkpoint_flavour.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_metadata.h"
#include "formats/nunchaku_w4a16_linear.h"

namespace {

using namespace svdq;
using namespace svdq::test;
using nunchaku::Keys;

NunchakuLinear small_layer(svdq_number_format format, int64_t rank = 16) {
    return random_nunchaku_linear(format, 128, 128, rank, 1);
}

NunchakuW4A16Linear small_adanorm() { return random_w4a16_linear(12, 64, 7); }

CheckpointInfo inspect(const SafeTensorsWriter& w) {
    w.save(temp_path("f"));
    return inspect_checkpoint(SafeTensorsFile(temp_path("f")));
}

void expect_format_error(const SafeTensorsWriter& w, const std::string& needle) {
    try {
        inspect(w);
        ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_FORMAT) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(CheckpointFlavour, DiffusersFloatCheckpoint) {
    SafeTensorsWriter w;
    const std::vector<float> x(12, 1.0f);
    w.add_view("x_embedder.weight", SVDQ_DTYPE_F32, {3, 4}, x.data(), 48);
    w.add_view("transformer_blocks.0.attn.to_q.bias", SVDQ_DTYPE_F32, {12}, x.data(), 48);

    const CheckpointInfo info = inspect(w);
    EXPECT_EQ(info.flavour, SVDQ_FLAVOUR_DIFFUSERS_FLOAT);
    EXPECT_EQ(info.format, SVDQ_FORMAT_FLOAT);
    EXPECT_EQ(info.parameter_count, 24u);
}

TEST(CheckpointFlavour, UnknownFile) {
    SafeTensorsWriter w;
    w.add("something", SVDQ_DTYPE_U8, {2}, {1, 2});
    EXPECT_EQ(inspect(w).flavour, SVDQ_FLAVOUR_UNKNOWN);
}

struct FlavourCase {
    svdq_number_format format;
    Keys keys;
    int32_t flavour;
};

class NunchakuFlavours : public testing::TestWithParam<FlavourCase> {};

TEST_P(NunchakuFlavours, AreTellFromTheirTensors) {
    const FlavourCase c = GetParam();
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "transformer_blocks.0.qkv_proj", small_layer(c.format), c.keys);
    add_nunchaku_linear(w, "transformer_blocks.0.mlp_fc1", small_layer(c.format, 32), c.keys);
    add_nunchaku_w4a16_linear(w, "transformer_blocks.0.norm1.linear", small_adanorm());

    const CheckpointInfo info = inspect(w);
    EXPECT_EQ(info.flavour, c.flavour);
    EXPECT_EQ(info.format, c.format);
    EXPECT_EQ(info.keys, c.keys == Keys::V0 ? SVDQ_KEYS_NUNCHAKU_V0 : SVDQ_KEYS_DIFFUSERS);
    EXPECT_EQ(info.w4a4_layers, 2);
    EXPECT_EQ(info.w4a16_layers, 1);
    EXPECT_EQ(info.rank, 32);
}

INSTANTIATE_TEST_SUITE_P(
    All, NunchakuFlavours,
    testing::Values(FlavourCase{SVDQ_FORMAT_INT4, Keys::V0, SVDQ_FLAVOUR_NUNCHAKU_INT4_V0},
                    FlavourCase{SVDQ_FORMAT_NVFP4, Keys::V0, SVDQ_FLAVOUR_NUNCHAKU_NVFP4_V0},
                    FlavourCase{SVDQ_FORMAT_INT4, Keys::Diffusers, SVDQ_FLAVOUR_NUNCHAKU_INT4_DIFFUSERS},
                    FlavourCase{SVDQ_FORMAT_NVFP4, Keys::Diffusers, SVDQ_FLAVOUR_NUNCHAKU_NVFP4_DIFFUSERS}));

TEST(CheckpointFlavour, OurOwnFilesCarryTheProducerMark) {
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "single_transformer_blocks.0.qkv_proj", small_layer(SVDQ_FORMAT_INT4), Keys::V0);
    set_nunchaku_metadata(w, SVDQ_FORMAT_INT4, 16, R"({"num_layers": 1})", "NunchakuFluxTransformer2dModel");

    const CheckpointInfo info = inspect(w);
    EXPECT_EQ(info.flavour, SVDQ_FLAVOUR_SVDQUANT);
    EXPECT_EQ(info.format, SVDQ_FORMAT_INT4);
    EXPECT_EQ(info.keys, SVDQ_KEYS_NUNCHAKU_V0);
}

TEST(CheckpointFlavour, CountsPackedWeightsOnePerNibble) {
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "a", small_layer(SVDQ_FORMAT_INT4), Keys::V0);  // 128 x 128, rank 16
    add_nunchaku_w4a16_linear(w, "b", small_adanorm());                       // 12 x 64
    const uint64_t w4a4 = 128 * 128 + 128 * 2 /*wscales*/ + 128 * 3 /*bias, smooth, smooth_orig*/ + 2 * 128 * 16;
    const uint64_t w4a16 = 12 * 64 + 3 * 12;
    EXPECT_EQ(inspect(w).parameter_count, w4a4 + w4a16);
}

TEST(CheckpointFlavour, MixedPrecisionsAreAnError) {
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "a", small_layer(SVDQ_FORMAT_INT4), Keys::V0);
    add_nunchaku_linear(w, "b", small_layer(SVDQ_FORMAT_NVFP4), Keys::V0);
    expect_format_error(w, "layer 'b' is NVFP4 but layer 'a' is INT4");
}

TEST(CheckpointFlavour, MixedKeyStylesAreAnError) {
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "a", small_layer(SVDQ_FORMAT_INT4), Keys::V0);
    add_nunchaku_linear(w, "b", small_layer(SVDQ_FORMAT_INT4), Keys::Diffusers);
    expect_format_error(w, "layer 'b' names its tensors in another style");
}

TEST(CheckpointFlavour, QuantizationConfigThatContradictsTheTensorsIsAnError) {
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "a", small_layer(SVDQ_FORMAT_INT4), Keys::V0);
    set_nunchaku_metadata(w, SVDQ_FORMAT_NVFP4, 16, "", "");
    expect_format_error(w, "'quantization_config' declares NVFP4 but layer 'a' is INT4");
}

TEST(CheckpointFlavour, QuantizationConfigWithoutLayersNamesTheMissingTensor) {
    SafeTensorsWriter w;
    w.add("x_embedder.weight", SVDQ_DTYPE_BF16, {2}, {0, 0, 0, 0});
    set_nunchaku_metadata(w, SVDQ_FORMAT_INT4, 32, "", "");
    expect_format_error(w, "no tensor '<layer>.qweight'");
}

TEST(CheckpointFlavour, MalformedMetadataJsonNamesTheEntry) {
    SafeTensorsWriter w;
    w.add("x", SVDQ_DTYPE_U8, {1}, {0});
    w.set_metadata("config", "{\"num_layers\": ");
    expect_format_error(w, "__metadata__ 'config' is not valid JSON");
}

TEST(CheckpointFlavour, AnAwqLayerWithoutZerosNamesIt) {
    SafeTensorsWriter full;
    add_nunchaku_w4a16_linear(full, "norm.linear", small_adanorm());
    full.save(temp_path("full"));
    const SafeTensorsFile complete(temp_path("full"));
    SafeTensorsWriter w;
    for (const TensorEntry& t : complete.tensors())
        if (t.name != "norm.linear.wzeros") w.add_copy(t.name, t.dtype, t.shape, complete.data(t), t.size_bytes());
    expect_format_error(w, "tensor 'norm.linear.wzeros' is missing (the W4A16 layer 'norm.linear' needs it)");
}

}  // namespace
