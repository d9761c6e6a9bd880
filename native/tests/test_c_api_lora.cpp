// LoRA files through the C API as hosts see them (svdq_lora_*): a kohya file
// written with the library's safetensors writer, read back module by module;
// bad files and bad arguments as status codes with named messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "svdquant.h"
#include "temp_path.h"

namespace {

std::string last_error() { return svdq_last_error_message(); }

class Writer {
public:
    Writer() { EXPECT_EQ(svdq_safetensors_writer_create(&w_), SVDQ_OK); }
    ~Writer() { svdq_safetensors_writer_destroy(w_); }
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    void add(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& data) {
        ASSERT_EQ(svdq_safetensors_writer_add_tensor(w_, name.c_str(), SVDQ_DTYPE_F32, shape.data(),
                                                     static_cast<int32_t>(shape.size()), data.data(), data.size() * 4),
                  SVDQ_OK)
            << last_error();
    }
    std::string save(const std::string& tag) {
        const std::string path = svdq::test::temp_path(tag + ".safetensors");
        EXPECT_EQ(svdq_safetensors_writer_save(w_, path.c_str()), SVDQ_OK) << last_error();
        return path;
    }

private:
    svdq_safetensors_writer* w_ = nullptr;
};

std::vector<float> ramp(size_t n, float step) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = step * static_cast<float>(i + 1);
    return v;
}

struct Lora {
    svdq_lora* handle = nullptr;
    ~Lora() { svdq_lora_destroy(handle); }
};

TEST(CApiLora, ReadsModulesAlphaAndUnusedKeys) {
    Writer w;
    w.add("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", {4, 3072}, ramp(4 * 3072, 1e-4f));
    w.add("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", {9216, 4}, ramp(9216 * 4, 1e-5f));
    w.add("lora_unet_double_blocks_0_img_attn_qkv.alpha", {}, {2.5f});
    w.add("lora_unet_single_blocks_3_linear2.lora_down.weight", {16, 15360}, ramp(16 * 15360, 1e-6f));
    w.add("lora_unet_single_blocks_3_linear2.lora_up.weight", {3072, 16}, ramp(3072 * 16, 1e-6f));
    w.add("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {8, 768}, ramp(8 * 768, 1e-5f));
    w.add("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", {3072, 8}, ramp(3072 * 8, 1e-5f));
    w.add("lora_unet_double_blocks_0_img_attn_qkv.dora_scale", {1, 9216}, ramp(9216, 1e-3f));
    const std::string path = w.save("kohya");

    Lora lora;
    ASSERT_EQ(svdq_lora_load(path.c_str(), &lora.handle), SVDQ_OK) << last_error();
    svdq_lora_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_lora_get_info(lora.handle, &info), SVDQ_OK) << last_error();
    EXPECT_EQ(info.key_style, SVDQ_LORA_KEYS_KOHYA);
    EXPECT_EQ(info.module_count, 3);
    EXPECT_EQ(info.min_rank, 4);
    EXPECT_EQ(info.max_rank, 16);
    EXPECT_EQ(info.missing_alpha_count, 2);
    EXPECT_EQ(info.unused_key_count, 1);
    EXPECT_EQ(info.flux_module_count, 2) << "the text encoder's module is not the transformer's";

    struct Want {
        const char* name;
        int32_t rank;
        float alpha;
        int32_t alpha_given;
        int64_t in, out;
        int32_t flux;
    };
    const Want want[] = {
        {"lora_te1_text_model_encoder_layers_0_mlp_fc1", 8, 8.0f, 0, 768, 3072, 0},
        {"lora_unet_double_blocks_0_img_attn_qkv", 4, 2.5f, 1, 3072, 9216, 1},
        {"lora_unet_single_blocks_3_linear2", 16, 16.0f, 0, 15360, 3072, 1},
    };
    for (int32_t i = 0; i < 3; ++i) {
        svdq_lora_module m{};
        m.struct_size = sizeof m;
        ASSERT_EQ(svdq_lora_get_module(lora.handle, i, &m), SVDQ_OK) << last_error();
        EXPECT_STREQ(m.name, want[i].name);
        EXPECT_EQ(m.rank, want[i].rank) << want[i].name;
        EXPECT_EQ(m.alpha, want[i].alpha) << want[i].name;
        EXPECT_EQ(m.alpha_given, want[i].alpha_given) << want[i].name;
        EXPECT_EQ(m.in_features, want[i].in) << want[i].name;
        EXPECT_EQ(m.out_features, want[i].out) << want[i].name;
        EXPECT_EQ(m.is_flux_module, want[i].flux) << want[i].name;
    }
    const char* key = nullptr;
    ASSERT_EQ(svdq_lora_get_unused_key(lora.handle, 0, &key), SVDQ_OK) << last_error();
    EXPECT_STREQ(key, "lora_unet_double_blocks_0_img_attn_qkv.dora_scale");

    svdq_lora_module m{};
    m.struct_size = sizeof m;
    EXPECT_EQ(svdq_lora_get_module(lora.handle, 3, &m), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("module index 3 is outside [0, 3)"), std::string::npos) << last_error();
    EXPECT_EQ(svdq_lora_get_module(lora.handle, -1, &m), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_lora_get_unused_key(lora.handle, 1, &key), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_lora_get_info(lora.handle, nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_lora_get_unused_key(lora.handle, 0, nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    svdq_lora_info newer{};
    newer.struct_size = sizeof newer + 4;
    EXPECT_EQ(svdq_lora_get_info(lora.handle, &newer), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("svdq_lora_info"), std::string::npos) << last_error();
}

TEST(CApiLora, BadFilesAreNamedStatusesAndLeaveTheHandleNull) {
    Writer half;
    half.add("transformer.proj_out.lora_A.weight", {2, 8}, ramp(16, 0.1f));
    const std::string half_path = half.save("half");
    svdq_lora* lora = reinterpret_cast<svdq_lora*>(1);
    EXPECT_EQ(svdq_lora_load(half_path.c_str(), &lora), SVDQ_ERROR_FORMAT);
    EXPECT_EQ(lora, nullptr);
    for (const std::string& needle : {std::string("svdq_lora_load: "), half_path, std::string("'transformer.proj_out.lora_A.weight'")})
        EXPECT_NE(last_error().find(needle), std::string::npos) << last_error() << " lacks " << needle;

    Writer nan;
    std::vector<float> up = ramp(16, 0.1f);
    up[3] = std::numeric_limits<float>::quiet_NaN();
    nan.add("img_in.lora_A.weight", {2, 8}, ramp(16, 0.1f));
    nan.add("img_in.lora_B.weight", {8, 2}, up);
    const std::string nan_path = nan.save("nan");
    EXPECT_EQ(svdq_lora_load(nan_path.c_str(), &lora), SVDQ_ERROR_NON_FINITE);
    EXPECT_EQ(lora, nullptr);
    EXPECT_NE(last_error().find("'img_in.lora_B.weight'"), std::string::npos) << last_error();

    const std::string missing = svdq::test::temp_path("absent.safetensors");
    EXPECT_EQ(svdq_lora_load(missing.c_str(), &lora), SVDQ_ERROR_IO);
    EXPECT_EQ(svdq_lora_load(nullptr, &lora), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_lora_load(half_path.c_str(), nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(svdq_lora_destroy(nullptr), SVDQ_OK);
}

}  // namespace
