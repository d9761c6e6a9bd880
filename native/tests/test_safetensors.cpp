// The safetensors writer and reader: every dtype round-trips, the header is
// what other implementations expect, and JSON comes from a real parser.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/tensor.h"
#include "format_test_util.h"
#include "formats/float_codec.h"
#include "formats/json_text.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "core/numerics/fp8.h"

namespace {

using namespace svdq;
using namespace svdq::test;

constexpr int32_t kAllDtypes[] = {SVDQ_DTYPE_F32,  SVDQ_DTYPE_F16,  SVDQ_DTYPE_BF16, SVDQ_DTYPE_I8,
                                  SVDQ_DTYPE_U8,   SVDQ_DTYPE_I32,  SVDQ_DTYPE_I64,  SVDQ_DTYPE_F64,
                                  SVDQ_DTYPE_I16,  SVDQ_DTYPE_BOOL, SVDQ_DTYPE_F8_E4M3, SVDQ_DTYPE_F8_E5M2};

TEST(SafeTensors, EveryDtypeRoundTripsWithShapeAndBytes) {
    SafeTensorsWriter w;
    std::vector<std::vector<uint8_t>> data;
    for (int32_t d : kAllDtypes) {
        data.push_back(random_bytes(3 * 5 * dtype_size(d), static_cast<uint64_t>(d)));
        w.add_view(std::string("t_") + dtype_name(d), d, {3, 5}, data.back().data(), data.back().size());
    }
    w.add("scalar", SVDQ_DTYPE_F32, {}, std::vector<uint8_t>(4, 0));
    w.add("empty", SVDQ_DTYPE_F32, {0, 7}, {});
    w.set_metadata("format", "pt");
    w.save(temp_path("all"));

    const SafeTensorsFile f(temp_path("all"));
    size_t i = 0;
    for (int32_t d : kAllDtypes) {
        const TensorEntry& t = f.at(std::string("t_") + dtype_name(d));
        EXPECT_EQ(t.dtype, d);
        EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 5}));
        EXPECT_EQ(std::vector<uint8_t>(f.data(t), f.data(t) + t.size_bytes()), data[i++]) << dtype_name(d);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data(t)) % dtype_size(d), 0u) << "aligned to its element size";
    }
    EXPECT_EQ(f.at("scalar").numel, 1);
    EXPECT_EQ(f.at("empty").size_bytes(), 0u);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(SafeTensors, HeaderIsPaddedSortedCompactJson) {
    SafeTensorsWriter w;
    const float one = 1.0f;
    w.add_view("b", SVDQ_DTYPE_F32, {1}, &one, 4);
    w.add_view("a", SVDQ_DTYPE_U8, {3}, "xyz", 3);
    const std::vector<uint8_t> h = w.header_bytes();

    uint64_t length = 0;
    std::memcpy(&length, h.data(), 8);
    EXPECT_EQ(length % 8, 0u);
    const std::string json(h.begin() + 8, h.end());
    EXPECT_EQ(json.find("{\"a\":{\"data_offsets\":[4,7],\"dtype\":\"U8\",\"shape\":[3]},\"b\":{\"data_offsets\":[0,4]"), 0u)
        << json;
    EXPECT_EQ(json.back(), ' ');
}

TEST(SafeTensors, WriterRejectsBadTensors) {
    SafeTensorsWriter w;
    const float v[2] = {1, 2};
    w.add_view("x", SVDQ_DTYPE_F32, {2}, v, 8);
    EXPECT_THROW(w.add_view("x", SVDQ_DTYPE_F32, {2}, v, 8), Error);           // twice
    EXPECT_THROW(w.add_view("y", SVDQ_DTYPE_F32, {3}, v, 8), Error);           // size
    EXPECT_THROW(w.add_view("__metadata__", SVDQ_DTYPE_F32, {2}, v, 8), Error);
    EXPECT_THROW(w.add_view("z", 99, {2}, v, 8), Error);
}

TEST(SafeTensors, SaveToAMissingDirectoryIsAnIoErrorNamingThePath) {
    SafeTensorsWriter w;
    try {
        w.save("/nonexistent-dir/x.safetensors");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_IO);
        EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.safetensors"), std::string::npos) << e.what();
    }
}

TEST(FloatCodec, DecodesEveryFloatDtype) {
    const uint16_t bf16 = 0x3fc0;   // 1.5
    const uint16_t f16 = 0x3e00;    // 1.5
    const double f64 = -2.25;
    float out = 0;
    decode_to_f32(SVDQ_DTYPE_BF16, &bf16, 1, &out, "x");
    EXPECT_EQ(out, 1.5f);
    decode_to_f32(SVDQ_DTYPE_F16, &f16, 1, &out, "x");
    EXPECT_EQ(out, 1.5f);
    decode_to_f32(SVDQ_DTYPE_F64, &f64, 1, &out, "x");
    EXPECT_EQ(out, -2.25f);
    EXPECT_THROW(decode_to_f32(SVDQ_DTYPE_I32, &f64, 1, &out, "x"), Error);
}

TEST(FloatCodec, Fp8DecodesTheFormatsCornerValues) {
    EXPECT_EQ(e4m3_to_float(0x38), 1.0f);
    EXPECT_EQ(e4m3_to_float(0x7e), 448.0f);
    EXPECT_EQ(e4m3_to_float(0x01), 1.0f / 512);  // smallest subnormal, 2^-9
    EXPECT_TRUE(std::isnan(e4m3_to_float(0x7f)));
    EXPECT_EQ(e4m3_to_float(0xb8), -1.0f);
    EXPECT_EQ(e5m2_to_float(0x3c), 1.0f);
    EXPECT_EQ(e5m2_to_float(0x7b), 57344.0f);
    EXPECT_TRUE(std::isinf(e5m2_to_float(0x7c)));
    EXPECT_EQ(e5m2_to_float(0x01), 1.0f / 65536);  // 2^-16
}

TEST(FloatCodec, SixteenBitEncodersRoundToNearestEven) {
    EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(float_to_bf16(bf16_to_float(0x3f81) + 0x1p-8f), 0x3f82) << "tie to even";
    EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(float_to_f16(65520.0f), 0x7c00) << "rounds to infinity";
    EXPECT_EQ(float_to_f16(0x1p-24f), 0x0001) << "smallest subnormal";
    EXPECT_EQ(float_to_f16(0x1p-25f), 0x0000) << "tie to even zero";
    EXPECT_EQ(float_to_f16(-0x1.8p-24f), 0x8002) << "1.5 units rounds to 2";
    // Every half round-trips.
    for (uint32_t h = 0; h < 0x7c00; ++h) ASSERT_EQ(float_to_f16(f16_to_float(static_cast<uint16_t>(h))), h);
}

TEST(Json, RejectsDuplicateKeysAndNamesTheSource) {
    EXPECT_EQ(parse_json("{\"a\": {\"b\": 1}}", "x")["a"]["b"], 1);
    try {
        parse_json("{\"a\": 1, \"b\": {\"c\": 1, \"c\": 2}}", "config.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_FORMAT);
        EXPECT_NE(std::string(e.what()).find("config.json has the key 'c' twice"), std::string::npos) << e.what();
    }
    EXPECT_THROW(parse_json("{\"a\": ", "x"), Error);
}

TEST(Json, ReadsAConfigFile) {
    const std::string path = temp_path("config");
    std::ofstream(path) << R"({"_class_name": "FluxTransformer2DModel", "num_layers": 19})";
    EXPECT_EQ(read_json_file(path)["num_layers"], 19);
    EXPECT_THROW(read_json_file(path + ".missing"), Error);
}

}  // namespace
