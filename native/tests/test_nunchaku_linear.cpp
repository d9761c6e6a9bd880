// Nunchaku layers: our writer and reader round-trip bit-exactly, and files
// built to the published layout by the independent reference packer read
// back to the values they were built from.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "format_test_util.h"
#include "formats/nunchaku_linear.h"
#include "formats/nunchaku_w4a16_linear.h"
#include "nunchaku_reference_packer.h"
#include "core/numerics/fp8.h"
#include "core/numerics/nvfp4.h"

namespace {

using namespace svdq;
using namespace svdq::test;
using nunchaku::Keys;

NunchakuLinear random_int4_layer(int64_t n, int64_t k, int64_t rank, uint64_t seed) {
    return random_nunchaku_linear(SVDQ_FORMAT_INT4, n, k, rank, seed);
}

void expect_same_layer(const NunchakuLinear& a, const NunchakuLinear& b) {
    EXPECT_EQ(a.format, b.format);
    EXPECT_EQ(a.out_features, b.out_features);
    EXPECT_EQ(a.in_features, b.in_features);
    EXPECT_EQ(a.rank, b.rank);
    EXPECT_EQ(a.int4.packed, b.int4.packed);
    EXPECT_EQ(a.int4.scales, b.int4.scales);
    EXPECT_EQ(a.nvfp4.packed, b.nvfp4.packed);
    EXPECT_EQ(a.nvfp4.scales, b.nvfp4.scales);
    EXPECT_EQ(a.channel_scales, b.channel_scales);
    EXPECT_EQ(a.tensor_scale, b.tensor_scale);
    EXPECT_EQ(a.bias, b.bias);
    EXPECT_EQ(a.smooth, b.smooth);
    EXPECT_EQ(a.smooth_orig, b.smooth_orig);
    EXPECT_EQ(a.lora_down, b.lora_down);
    EXPECT_EQ(a.lora_up, b.lora_up);
    EXPECT_EQ(a.float_dtype, b.float_dtype);
}

// Every tensor of `a` has the same dtype, shape and bytes in `b`, and vice versa.
void expect_same_tensors(const SafeTensorsFile& a, const SafeTensorsFile& b) {
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    for (const TensorEntry& t : a.tensors()) {
        const TensorEntry& u = b.at(t.name);
        EXPECT_EQ(t.dtype, u.dtype) << t.name;
        EXPECT_EQ(t.shape, u.shape) << t.name;
        EXPECT_TRUE(std::equal(a.data(t), a.data(t) + t.size_bytes(), b.data(u))) << t.name << " differs";
    }
}

SafeTensorsFile save(const SafeTensorsWriter& w, const std::string& path) {
    w.save(path);
    return SafeTensorsFile(path);
}

class NunchakuLinearKeys : public testing::TestWithParam<Keys> {};

TEST_P(NunchakuLinearKeys, Int4LayerRoundTripsBitExactlyThroughPaddingAndPacking) {
    const NunchakuLinear layer = random_int4_layer(96, 192, 20, 1);
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "blocks.0.qkv_proj", layer, GetParam());
    const SafeTensorsFile file = save(w, temp_path("a"));

    const NunchakuLinearShape shape = describe_nunchaku_linear(file, "blocks.0.qkv_proj");
    EXPECT_EQ(shape.keys, GetParam());
    EXPECT_EQ(shape.out_features, 128);
    EXPECT_EQ(shape.in_features, 256);
    EXPECT_EQ(shape.rank, 32);
    const NunchakuLinear stored = read_nunchaku_linear(file, "blocks.0.qkv_proj");
    expect_same_layer(crop_nunchaku_linear(stored, 96, 192, 20), layer);

    // Reading then writing reproduces the file's tensors bit for bit.
    SafeTensorsWriter again;
    add_nunchaku_linear(again, "blocks.0.qkv_proj", stored, GetParam());
    expect_same_tensors(file, save(again, temp_path("b")));
}

INSTANTIATE_TEST_SUITE_P(BothKeyStyles, NunchakuLinearKeys, testing::Values(Keys::V0, Keys::Diffusers));

TEST(NunchakuLinear, WritesTheNamesOfEachKeyStyle) {
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "v0", random_int4_layer(128, 128, 16, 2), Keys::V0);
    add_nunchaku_linear(w, "dif", random_int4_layer(128, 128, 16, 3), Keys::Diffusers);
    for (const char* name : {"v0.qweight", "v0.wscales", "v0.bias", "v0.smooth", "v0.smooth_orig", "v0.lora_down",
                             "v0.lora_up", "dif.qweight", "dif.wscales", "dif.bias", "dif.smooth_factor",
                             "dif.smooth_factor_orig", "dif.proj_down", "dif.proj_up"})
        EXPECT_TRUE(w.contains(name)) << name;
}

TEST(NunchakuLinear, Nvfp4LayerRoundTripsBitExactly) {
    NunchakuLinear layer = random_nunchaku_linear(SVDQ_FORMAT_NVFP4, 128, 256, 16, 4);
    layer.float_dtype = SVDQ_DTYPE_F16;
    layer.bias = {};
    SafeTensorsWriter w;
    add_nunchaku_linear(w, "fc", layer, Keys::V0);
    const SafeTensorsFile file = save(w, temp_path("a"));

    EXPECT_EQ(file.at("fc.wscales").dtype, SVDQ_DTYPE_F8_E4M3);
    EXPECT_EQ(file.at("fc.wscales").shape, (std::vector<int64_t>{16, 128}));
    EXPECT_EQ(file.at("fc.smooth").dtype, SVDQ_DTYPE_F16);
    expect_same_layer(read_nunchaku_linear(file, "fc"), layer);
}

TEST(NunchakuLinear, ReadsAnInt4LayerBuiltToThePublishedLayout) {
    // 200 x 192 pads to 256 x 256, rank 24 to 32.
    const ReferenceW4A4 ref = random_reference_w4a4(200, 192, 24, false, 8);
    SafeTensorsWriter w;
    add_reference_w4a4(w, "transformer_blocks.0.mlp_fc1", ref);
    const SafeTensorsFile file = save(w, temp_path("ref"));

    const NunchakuLinear l = crop_nunchaku_linear(read_nunchaku_linear(file, "transformer_blocks.0.mlp_fc1"), ref.n, ref.k, ref.rank);

    ASSERT_EQ(l.format, SVDQ_FORMAT_INT4);
    for (int64_t r = 0; r < ref.n; ++r)
        for (int64_t c = 0; c < ref.k; ++c) {
            const size_t i = static_cast<size_t>(r * ref.k + c);
            ASSERT_EQ(int4_at(l.int4.row(r), c), ref.q[i]) << "q at (" << r << ", " << c << ")";
            ASSERT_EQ(l.int4.value(r, c), static_cast<float>(ref.q[i]) * ref.scales[static_cast<size_t>(r * (ref.k / 64) + c / 64)]);
        }
    EXPECT_EQ(l.bias, ref.bias);
    EXPECT_EQ(l.smooth, ref.smooth);
    EXPECT_EQ(l.smooth_orig, ref.smooth);
    EXPECT_EQ(l.lora_down, ref.down);
    EXPECT_EQ(l.lora_up, ref.up);
}

TEST(NunchakuLinear, ReadsAnNvfp4LayerBuiltToThePublishedLayout) {
    const ReferenceW4A4 ref = random_reference_w4a4(256, 384, 16, true, 14);
    SafeTensorsWriter w;
    add_reference_w4a4(w, "x", ref);
    const SafeTensorsFile file = save(w, temp_path("ref"));

    const NunchakuLinear l = read_nunchaku_linear(file, "x");

    ASSERT_EQ(l.format, SVDQ_FORMAT_NVFP4);
    for (int64_t r = 0; r < ref.n; ++r)
        for (int64_t c = 0; c < ref.k; ++c) {
            const size_t i = static_cast<size_t>(r * ref.k + c);
            const float scale = e4m3_to_float(ref.micro[static_cast<size_t>(r * (ref.k / 16) + c / 16)]);
            ASSERT_EQ(l.nvfp4.value(r, c), e2m1_value(ref.q[i]) * scale) << "(" << r << ", " << c << ")";
        }
    EXPECT_EQ(l.channel_scales, ref.wcscales);
    EXPECT_EQ(l.tensor_scale, 1.0f) << "a file without wtscale";
    EXPECT_EQ(l.lora_down, ref.down);
    EXPECT_EQ(l.lora_up, ref.up);
}

class AdaNormChunks : public testing::TestWithParam<int64_t> {};

TEST_P(AdaNormChunks, ReadsAnAdaNormLayerBuiltToThePublishedLayoutInDiffusersOrder) {
    const ReferenceAdaNorm ref = random_reference_adanorm(GetParam(), 4, 128, 21);
    SafeTensorsWriter w;
    add_reference_adanorm(w, "transformer_blocks.0.norm1.linear", ref);
    const SafeTensorsFile file = save(w, temp_path("ref"));
    // TinyChat's converter stores ceil_num_groups(128) = 16 rows of scales and zeros for 2 groups.
    EXPECT_EQ(file.at("transformer_blocks.0.norm1.linear.wscales").shape, (std::vector<int64_t>{16, ref.n}));
    EXPECT_EQ(file.at("transformer_blocks.0.norm1.linear.wzeros").shape, (std::vector<int64_t>{16, ref.n}));

    const NunchakuW4A16Linear stored = read_nunchaku_w4a16_linear(file, "transformer_blocks.0.norm1.linear");
    const NunchakuW4A16Linear l = adanorm_from_nunchaku(stored, static_cast<int>(ref.chunks));

    ASSERT_EQ(l.out_features, ref.n);
    ASSERT_EQ(l.in_features, ref.k);
    for (int64_t r = 0; r < ref.n; ++r)
        for (int64_t c = 0; c < ref.k; ++c) {
            const size_t g = static_cast<size_t>(r * 2 + c / 64);
            ASSERT_EQ(l.value(r, c), static_cast<float>(ref.q[static_cast<size_t>(r * ref.k + c)]) * ref.scales[g] + ref.zeros[g])
                << "(" << r << ", " << c << ")";
        }
    EXPECT_EQ(l.bias, ref.bias);

    // And back: our writer reproduces the reference file in the [K/64, N]
    // that Nunchaku's loaders declare (AWQW4A16Linear, GEMV_AWQ), without TinyChat's padding.
    ReferenceAdaNorm unpadded = ref;
    unpadded.pad_groups = false;
    SafeTensorsWriter reference, again;
    add_reference_adanorm(reference, "transformer_blocks.0.norm1.linear", unpadded);
    add_nunchaku_w4a16_linear(again, "transformer_blocks.0.norm1.linear", adanorm_to_nunchaku(l, static_cast<int>(ref.chunks)));
    expect_same_tensors(save(reference, temp_path("unpadded")), save(again, temp_path("ours")));
}

INSTANTIATE_TEST_SUITE_P(ZeroAndSingle, AdaNormChunks, testing::Values(6, 3));

// A layer file missing one tensor, or carrying one of the wrong shape.
class BrokenLayer : public testing::Test {
protected:
    SafeTensorsFile write_without(const std::string& dropped, const std::string& replaced = "") {
        SafeTensorsWriter full;
        add_nunchaku_linear(full, "layer", random_int4_layer(128, 128, 16, 30), Keys::V0);
        const SafeTensorsFile complete = save(full, temp_path("full"));
        SafeTensorsWriter w;
        for (const TensorEntry& t : complete.tensors()) {
            if (t.name == dropped) continue;
            if (t.name == replaced)
                w.add(t.name, t.dtype, {t.shape[0] / 2}, std::vector<uint8_t>(t.size_bytes() / 2));
            else
                w.add_copy(t.name, t.dtype, t.shape, complete.data(t), t.size_bytes());
        }
        return save(w, temp_path("broken"));
    }

    static void expect_error(const std::function<void()>& call, svdq_status status, const std::string& needle) {
        try {
            call();
            ADD_FAILURE() << "no error; expected one naming " << needle;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), status) << e.what();
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    }
};

TEST_F(BrokenLayer, WithoutWscalesNamesTheMissingTensor) {
    const SafeTensorsFile f = write_without("layer.wscales");
    expect_error([&] { read_nunchaku_linear(f, "layer"); }, SVDQ_ERROR_FORMAT, "'layer.wscales' is missing");
}

TEST_F(BrokenLayer, WithHalfTheBranchNamesTheOtherHalf) {
    const SafeTensorsFile f = write_without("layer.lora_up");
    expect_error([&] { describe_nunchaku_linear(f, "layer"); }, SVDQ_ERROR_FORMAT, "'layer.lora_up' is missing");
}

TEST_F(BrokenLayer, WithAMisshapenSmoothNamesIt) {
    const SafeTensorsFile f = write_without("", "layer.smooth");
    expect_error([&] { describe_nunchaku_linear(f, "layer"); }, SVDQ_ERROR_FORMAT, "tensor 'layer.smooth': has shape [64]");
}

TEST_F(BrokenLayer, WithoutSmoothInEitherStyleNamesIt) {
    SafeTensorsWriter full;
    add_nunchaku_linear(full, "layer", random_int4_layer(128, 128, 0, 31), Keys::V0);
    const SafeTensorsFile complete = save(full, temp_path("full"));
    SafeTensorsWriter w;
    for (const TensorEntry& t : complete.tensors())
        if (t.name != "layer.smooth" && t.name != "layer.smooth_orig") w.add_copy(t.name, t.dtype, t.shape, complete.data(t), t.size_bytes());
    const SafeTensorsFile f = save(w, temp_path("broken"));
    expect_error([&] { describe_nunchaku_linear(f, "layer"); }, SVDQ_ERROR_FORMAT, "'layer.smooth' is missing");
}

TEST(NunchakuLinear, CropRejectsSizesTheLayerDoesNotHave) {
    const NunchakuLinear l = random_int4_layer(128, 128, 16, 32);
    EXPECT_THROW(crop_nunchaku_linear(l, 256, 128), Error);
    EXPECT_THROW(crop_nunchaku_linear(l, 128, 96), Error);  // not a multiple of 64
    EXPECT_THROW(crop_nunchaku_linear(l, 128, 128, 17), Error);
}

TEST(NunchakuLinear, WriterRejectsALayerWhosePartsDisagree) {
    NunchakuLinear l = random_int4_layer(128, 128, 16, 33);
    l.smooth.pop_back();
    SafeTensorsWriter w;
    EXPECT_THROW(add_nunchaku_linear(w, "x", l, Keys::V0), Error);
}

}  // namespace
