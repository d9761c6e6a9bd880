// LoRA files as parsed (read_lora_file): the key layouts of diffusers/PEFT,
// kohya and BFL in F32, F16 and BF16, what belongs to a module and what does
// not, and every refusal naming the file and the key.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "formats/lora_file.h"
#include "lora_test_files.h"

namespace {

using namespace svdq;
using namespace svdq::test;

class LoraFileDtype : public testing::TestWithParam<int32_t> {};

TEST_P(LoraFileDtype, ReadsDiffusersModulesWithAndWithoutAlpha) {
    LoraWriter w(GetParam());
    const std::vector<float> down_q = lora_values(4 * 24, 1), up_q = lora_values(40 * 4, 2);
    const std::vector<float> down_x = lora_values(2 * 12, 3), up_x = lora_values(16 * 2, 4);
    w.pair("transformer.transformer_blocks.0.attn.to_q.lora_A.weight", "transformer.transformer_blocks.0.attn.to_q.lora_B.weight",
           down_q, up_q, 4, 24, 40);
    w.scalar("transformer.transformer_blocks.0.attn.to_q.alpha", 6.0f);
    w.pair("transformer.x_embedder.lora_A.weight", "transformer.x_embedder.lora_B.weight", down_x, up_x, 2, 12, 16);
    w.tensor("transformer.norm.weight", {3}, {1, 2, 3});  // not LoRA
    w.scalar("orphan.alpha", 1.0f);                       // an alpha without matrices
    const LoraFile f = read_lora_file(w.save("diffusers"));

    EXPECT_EQ(f.style, LoraKeyStyle::diffusers);
    ASSERT_EQ(f.modules.size(), 2u);
    const LoraModule& q = f.modules[0];
    EXPECT_EQ(q.name, "transformer.transformer_blocks.0.attn.to_q");
    EXPECT_EQ(q.rank, 4);
    EXPECT_EQ(q.in_features, 24);
    EXPECT_EQ(q.out_features, 40);
    EXPECT_EQ(q.alpha, 6.0f);
    EXPECT_TRUE(q.alpha_given);
    EXPECT_EQ(q.down, down_q);
    EXPECT_EQ(q.up, up_q);
    EXPECT_EQ(q.down_key, "transformer.transformer_blocks.0.attn.to_q.lora_A.weight");
    EXPECT_EQ(q.up_key, "transformer.transformer_blocks.0.attn.to_q.lora_B.weight");
    EXPECT_EQ(q.alpha_key, "transformer.transformer_blocks.0.attn.to_q.alpha");

    const LoraModule& x = f.modules[1];
    EXPECT_EQ(x.name, "transformer.x_embedder");
    EXPECT_EQ(x.rank, 2);
    EXPECT_EQ(x.alpha, 2.0f) << "alpha defaults to the rank";
    EXPECT_FALSE(x.alpha_given);
    EXPECT_EQ(x.alpha_key, "");
    EXPECT_EQ(x.down, down_x);
    EXPECT_EQ(x.up, up_x);

    EXPECT_EQ(f.unused_keys, (std::vector<std::string>{"orphan.alpha", "transformer.norm.weight"}));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LoraFileDtype, testing::Values(SVDQ_DTYPE_F32, SVDQ_DTYPE_F16, SVDQ_DTYPE_BF16),
                         [](const testing::TestParamInfo<int32_t>& p) {
                             return std::string(p.param == SVDQ_DTYPE_F32 ? "F32" : p.param == SVDQ_DTYPE_F16 ? "F16" : "BF16");
                         });

// One module under each published key layout: the style it is read as and the keys it keeps.
TEST(LoraFile, DetectsEachKeyStyle) {
    struct Case {
        const char* tag;
        std::string module, down_suffix, up_suffix;
        LoraKeyStyle style;
    };
    const std::vector<Case> cases{
        {"kohya", "lora_unet_double_blocks_0_img_attn_qkv", ".lora_down.weight", ".lora_up.weight", LoraKeyStyle::kohya},
        {"kohya_diffusers_names", "lora_transformer_single_transformer_blocks_0_attn_to_q", ".lora_down.weight",
         ".lora_up.weight", LoraKeyStyle::kohya},
        {"bfl", "double_blocks.0.img_attn.qkv", ".lora_A.weight", ".lora_B.weight", LoraKeyStyle::bfl},
        {"comfyui", "diffusion_model.single_blocks.1.linear1", ".lora_down.weight", ".lora_up.weight", LoraKeyStyle::bfl},
        {"bfl_final", "final_layer.adaLN_modulation.1", ".lora_A.weight", ".lora_B.weight", LoraKeyStyle::bfl},
        {"peft", "base_model.model.transformer_blocks.0.attn.to_k", ".lora_A.default.weight", ".lora_B.default.weight",
         LoraKeyStyle::diffusers},
        {"diffusers_bare", "single_transformer_blocks.3.proj_out", ".lora_A.weight", ".lora_B.weight", LoraKeyStyle::diffusers},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.tag);
        LoraWriter w;
        w.pair(c.module + c.down_suffix, c.module + c.up_suffix, lora_values(8, 5), lora_values(6, 6), 2, 4, 3);
        w.scalar(c.module + ".alpha", 1.0f);
        const LoraFile f = read_lora_file(w.save(c.tag));
        EXPECT_EQ(f.style, c.style);
        ASSERT_EQ(f.modules.size(), 1u);
        EXPECT_EQ(f.modules[0].name, c.module);
        EXPECT_EQ(f.modules[0].down_key, c.module + c.down_suffix);
        EXPECT_EQ(f.modules[0].up_key, c.module + c.up_suffix);
        EXPECT_TRUE(f.modules[0].alpha_given);
        EXPECT_TRUE(f.unused_keys.empty());
    }
}

// A file mixing styles takes the style most of its modules follow, not that of its first key.
TEST(LoraFile, StyleIsThatOfMostModules) {
    LoraWriter w;
    for (const char* m : {"double_blocks.0.img_mod.lin", "lora_unet_img_in", "lora_unet_txt_in", "x_embedder"})
        w.pair(std::string(m) + ".lora_down.weight", std::string(m) + ".lora_up.weight", lora_values(4, 1), lora_values(4, 2), 2, 2, 2);
    EXPECT_EQ(read_lora_file(w.save("mixed")).style, LoraKeyStyle::kohya);
}

// A 1x1 or 3x3 conv LoRA (SD UNets) is read as the matrix it multiplies, so
// such a file loads and can be named as another family's when matched.
TEST(LoraFile, ReadsConvModulesAsMatrices) {
    LoraWriter w;
    w.tensor("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", {2, 3, 3, 3}, lora_values(54, 1));
    w.tensor("lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", {5, 2, 1, 1}, lora_values(10, 2));
    const LoraFile f = read_lora_file(w.save("conv"));
    ASSERT_EQ(f.modules.size(), 1u);
    EXPECT_EQ(f.modules[0].in_features, 27);
    EXPECT_EQ(f.modules[0].out_features, 5);
    EXPECT_EQ(f.modules[0].rank, 2);
}

TEST(LoraFile, RefusesHalfAPairNamingFileAndKey) {
    LoraWriter w;
    w.tensor("transformer.proj_out.lora_A.weight", {2, 4}, lora_values(8, 1));
    const std::string path = w.save("half");
    expect_svdq_error([&] { read_lora_file(path); }, SVDQ_ERROR_FORMAT,
                      {path, "'transformer.proj_out.lora_A.weight'", "no up", "half a LoRA pair"});

    LoraWriter up_only;
    up_only.tensor("lora_unet_img_in.lora_up.weight", {4, 2}, lora_values(8, 1));
    up_only.scalar("lora_unet_img_in.alpha", 2.0f);
    const std::string up_path = up_only.save("up_only");
    expect_svdq_error([&] { read_lora_file(up_path); }, SVDQ_ERROR_FORMAT,
                      {up_path, "'lora_unet_img_in.lora_up.weight'", "no down"});
}

TEST(LoraFile, RefusesRankMismatchAndNonMatrices) {
    LoraWriter ranks;
    ranks.tensor("m.lora_A.weight", {2, 4}, lora_values(8, 1));
    ranks.tensor("m.lora_B.weight", {4, 3}, lora_values(12, 2));
    const std::string path = ranks.save("ranks");
    expect_svdq_error([&] { read_lora_file(path); }, SVDQ_ERROR_SHAPE_MISMATCH,
                      {path, "'m.lora_B.weight'", "[4, 3]", "rank 3", "'m.lora_A.weight'", "[2, 4]", "rank 2"});

    LoraWriter three_d;
    three_d.tensor("m.lora_A.weight", {2, 2, 2}, lora_values(8, 1));
    three_d.tensor("m.lora_B.weight", {4, 2}, lora_values(8, 2));
    const std::string p3 = three_d.save("three_d");
    expect_svdq_error([&] { read_lora_file(p3); }, SVDQ_ERROR_SHAPE_MISMATCH, {p3, "'m.lora_A.weight'", "[2, 2, 2]", "2-D"});

    LoraWriter conv_up;  // an up conv kernel larger than 1x1 multiplies nothing a LoRA describes
    conv_up.tensor("m.lora_A.weight", {2, 4}, lora_values(8, 1));
    conv_up.tensor("m.lora_B.weight", {4, 2, 3, 3}, lora_values(72, 2));
    const std::string pc = conv_up.save("conv_up");
    expect_svdq_error([&] { read_lora_file(pc); }, SVDQ_ERROR_SHAPE_MISMATCH, {pc, "'m.lora_B.weight'", "[4, 2, 3, 3]", "2-D"});

    LoraWriter alpha;
    alpha.pair("m.lora_A.weight", "m.lora_B.weight", lora_values(8, 1), lora_values(8, 2), 2, 4, 4);
    alpha.tensor("m.alpha", {2}, {1, 2});
    const std::string pa = alpha.save("alpha");
    expect_svdq_error([&] { read_lora_file(pa); }, SVDQ_ERROR_SHAPE_MISMATCH, {pa, "'m.alpha'", "[2]", "one number"});
}

TEST(LoraFile, RefusesOtherDtypesNamingTheKey) {
    LoraWriter w;
    w.tensor("m.lora_A.weight", {2, 4}, lora_values(8, 1));
    std::vector<uint8_t> f64(8 * 8, 0);
    w.raw("m.lora_B.weight", SVDQ_DTYPE_F64, {4, 2}, f64);
    const std::string path = w.save("f64");
    expect_svdq_error([&] { read_lora_file(path); }, SVDQ_ERROR_DTYPE, {path, "'m.lora_B.weight'", "F64"});

    LoraWriter a;
    a.pair("m.lora_A.weight", "m.lora_B.weight", lora_values(8, 1), lora_values(8, 2), 2, 4, 4);
    a.raw("m.alpha", SVDQ_DTYPE_I64, {}, std::vector<uint8_t>(8, 0));
    const std::string pa = a.save("i64_alpha");
    expect_svdq_error([&] { read_lora_file(pa); }, SVDQ_ERROR_DTYPE, {pa, "'m.alpha'", "I64"});
}

TEST(LoraFile, RefusesNonFiniteValuesNamingTheKey) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    std::vector<float> down = lora_values(8, 1);
    down[5] = nan;
    LoraWriter w;
    w.pair("m.lora_A.weight", "m.lora_B.weight", down, lora_values(8, 2), 2, 4, 4);
    const std::string path = w.save("nan");
    expect_svdq_error([&] { read_lora_file(path); }, SVDQ_ERROR_NON_FINITE, {path, "'m.lora_A.weight'", "NaN"});

    std::vector<float> up = lora_values(8, 2);
    up[7] = -inf;
    LoraWriter b(SVDQ_DTYPE_BF16);
    b.pair("m.lora_A.weight", "m.lora_B.weight", lora_values(8, 1), up, 2, 4, 4);
    const std::string pb = b.save("inf_bf16");
    expect_svdq_error([&] { read_lora_file(pb); }, SVDQ_ERROR_NON_FINITE, {pb, "'m.lora_B.weight'", "-Inf"});

    LoraWriter a;
    a.pair("m.lora_A.weight", "m.lora_B.weight", lora_values(8, 1), lora_values(8, 2), 2, 4, 4);
    a.scalar("m.alpha", nan);
    const std::string pa = a.save("nan_alpha");
    expect_svdq_error([&] { read_lora_file(pa); }, SVDQ_ERROR_NON_FINITE, {pa, "'m.alpha'", "NaN"});
}

TEST(LoraFile, RefusesAFileWithoutLoraKeys) {
    LoraWriter w;
    w.tensor("x_embedder.weight", {2, 2}, {1, 2, 3, 4});
    w.scalar("lonely.alpha", 4.0f);
    const std::string path = w.save("no_lora");
    expect_svdq_error([&] { read_lora_file(path); }, SVDQ_ERROR_FORMAT, {path, "no LoRA keys", "2 tensors"});
}

TEST(LoraFile, RefusesTwoTensorsForOnePart) {
    LoraWriter w;
    w.pair("m.lora_A.weight", "m.lora_B.weight", lora_values(8, 1), lora_values(8, 2), 2, 4, 4);
    w.tensor("m.lora_down.weight", {2, 4}, lora_values(8, 3));
    const std::string path = w.save("twice");
    expect_svdq_error([&] { read_lora_file(path); }, SVDQ_ERROR_FORMAT, {path, "'m.lora_down.weight'", "'m.lora_A.weight'", "module 'm'"});
}

}  // namespace
