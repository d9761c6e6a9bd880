// Checkpoint files through the C API, as a host sees them: a write/read
// round trip, and every kind of bad file as a status plus a message that
// names the file and the tensor, never a crash.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "svdquant.h"

namespace {

std::string last_error() { return svdq_last_error_message(); }

std::string temp_file(const std::string& tag) {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    return testing::TempDir() + "svdq_capi_" + info->name() + "_" + tag + ".safetensors";
}

// A file of an 8-byte length, `header` and `data`, whatever they hold.
std::string raw_file(const std::string& tag, const std::string& header, const std::string& data = "",
                     uint64_t declared_length = UINT64_MAX) {
    const std::string path = temp_file(tag);
    const uint64_t length = declared_length == UINT64_MAX ? header.size() : declared_length;
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
    out << header << data;
    return path;
}

void expect_error(svdq_status got, svdq_status want, const std::vector<std::string>& needles) {
    EXPECT_EQ(got, want) << last_error();
    for (const std::string& needle : needles)
        EXPECT_NE(last_error().find(needle), std::string::npos) << "message '" << last_error() << "' lacks '" << needle << "'";
}

// Opens `path` expecting failure with `status` and a message holding the path and `needles`.
void expect_bad_file(const std::string& path, svdq_status status, std::vector<std::string> needles) {
    svdq_safetensors* file = reinterpret_cast<svdq_safetensors*>(1);
    needles.push_back(path);
    expect_error(svdq_safetensors_open(path.c_str(), &file), status, needles);
    EXPECT_EQ(file, nullptr) << "a failed open leaves the handle NULL";
}

class Writer {
public:
    Writer() { EXPECT_EQ(svdq_safetensors_writer_create(&w_), SVDQ_OK); }
    ~Writer() { svdq_safetensors_writer_destroy(w_); }
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    template <class T>
    void add(const char* name, int32_t dtype, std::vector<int64_t> shape, const std::vector<T>& data) {
        ASSERT_EQ(svdq_safetensors_writer_add_tensor(w_, name, dtype, shape.data(), static_cast<int32_t>(shape.size()),
                                                     data.data(), data.size() * sizeof(T)),
                  SVDQ_OK)
            << last_error();
    }
    svdq_safetensors_writer* get() const { return w_; }

private:
    svdq_safetensors_writer* w_ = nullptr;
};

class File {
public:
    explicit File(const std::string& path) { EXPECT_EQ(svdq_safetensors_open(path.c_str(), &f_), SVDQ_OK) << last_error(); }
    ~File() { svdq_safetensors_destroy(f_); }
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    svdq_safetensors* get() const { return f_; }
    int64_t index_of(const char* name) const {
        int64_t index = -2;
        EXPECT_EQ(svdq_safetensors_find_tensor(f_, name, &index), SVDQ_OK);
        return index;
    }

private:
    svdq_safetensors* f_ = nullptr;
};

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The stream writer writes what the in-memory writer saves, tensor by
// tensor; it finishes once, and an unfinished one leaves no file.
TEST(CApiSafeTensors, StreamWriterWritesWhatTheWriterSaves) {
    const std::string saved = temp_file("saved"), streamed = temp_file("streamed"), dropped = temp_file("dropped");
    const std::vector<float> weight{1, 2, 3, 4, 5, 6};
    const std::vector<uint16_t> bias{0x3fc0, 0xc000};
    const std::vector<int64_t> weight_shape{2, 3}, bias_shape{2};
    {
        Writer w;
        w.add("weight", SVDQ_DTYPE_F32, weight_shape, weight);
        w.add("bias", SVDQ_DTYPE_BF16, bias_shape, bias);
        ASSERT_EQ(svdq_safetensors_writer_set_metadata(w.get(), "format", "pt"), SVDQ_OK);
        ASSERT_EQ(svdq_safetensors_writer_save(w.get(), saved.c_str()), SVDQ_OK) << last_error();
    }
    svdq_safetensors_stream_writer* w = nullptr;
    ASSERT_EQ(svdq_safetensors_stream_writer_create(streamed.c_str(), &w), SVDQ_OK) << last_error();
    ASSERT_EQ(svdq_safetensors_stream_writer_add_tensor(w, "weight", SVDQ_DTYPE_F32, weight_shape.data(), 2, weight.data(), 24),
              SVDQ_OK)
        << last_error();
    ASSERT_EQ(svdq_safetensors_stream_writer_set_metadata(w, "format", "pt"), SVDQ_OK);
    ASSERT_EQ(svdq_safetensors_stream_writer_add_tensor(w, "bias", SVDQ_DTYPE_BF16, bias_shape.data(), 1, bias.data(), 4),
              SVDQ_OK)
        << last_error();
    expect_error(svdq_safetensors_stream_writer_add_tensor(w, "bias", SVDQ_DTYPE_BF16, bias_shape.data(), 1, bias.data(), 4),
                 SVDQ_ERROR_INVALID_ARGUMENT, {"bias"});
    expect_error(svdq_safetensors_stream_writer_add_tensor(w, "short", SVDQ_DTYPE_F32, bias_shape.data(), 1, weight.data(), 4),
                 SVDQ_ERROR_SHAPE_MISMATCH, {"short"});
    ASSERT_EQ(svdq_safetensors_stream_writer_finish(w), SVDQ_OK) << last_error();
    expect_error(svdq_safetensors_stream_writer_finish(w), SVDQ_ERROR_INVALID_ARGUMENT, {streamed});
    EXPECT_EQ(svdq_safetensors_stream_writer_destroy(w), SVDQ_OK);
    EXPECT_EQ(file_bytes(streamed), file_bytes(saved));

    ASSERT_EQ(svdq_safetensors_stream_writer_create(dropped.c_str(), &w), SVDQ_OK) << last_error();
    ASSERT_EQ(svdq_safetensors_stream_writer_add_tensor(w, "bias", SVDQ_DTYPE_BF16, bias_shape.data(), 1, bias.data(), 4), SVDQ_OK);
    EXPECT_EQ(svdq_safetensors_stream_writer_destroy(w), SVDQ_OK);
    EXPECT_FALSE(std::ifstream(dropped).good()) << "an unfinished writer leaves no file";
}

TEST(CApiSafeTensors, WriteThenReadRoundTrips) {
    const std::string path = temp_file("rt");
    {
        Writer w;
        w.add("weight", SVDQ_DTYPE_F32, {2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
        w.add("bias", SVDQ_DTYPE_BF16, {2}, std::vector<uint16_t>{0x3fc0, 0xc000});  // 1.5, -2
        w.add("ids", SVDQ_DTYPE_I64, {1}, std::vector<int64_t>{42});
        ASSERT_EQ(svdq_safetensors_writer_set_metadata(w.get(), "format", "pt"), SVDQ_OK);
        ASSERT_EQ(svdq_safetensors_writer_save(w.get(), path.c_str()), SVDQ_OK) << last_error();
    }
    File f(path);
    svdq_safetensors_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_safetensors_get_info(f.get(), &info), SVDQ_OK);
    EXPECT_EQ(info.tensor_count, 3);
    EXPECT_EQ(info.metadata_count, 1);
    EXPECT_EQ(info.data_offset % 8, 0u);

    const char* key = nullptr;
    const char* value = nullptr;
    ASSERT_EQ(svdq_safetensors_get_metadata(f.get(), 0, &key, &value), SVDQ_OK);
    EXPECT_STREQ(key, "format");
    EXPECT_STREQ(value, "pt");

    svdq_safetensors_tensor t{};
    t.struct_size = sizeof t;
    ASSERT_EQ(svdq_safetensors_get_tensor(f.get(), f.index_of("weight"), &t), SVDQ_OK);
    EXPECT_STREQ(t.name, "weight");
    EXPECT_EQ(t.dtype, SVDQ_DTYPE_F32);
    EXPECT_EQ(t.ndim, 2);
    EXPECT_EQ(t.shape[0], 2);
    EXPECT_EQ(t.shape[1], 3);
    EXPECT_EQ(t.shape[2], 0);
    EXPECT_EQ(t.size_bytes, 24u);
    float first = 0;
    std::memcpy(&first, t.data, 4);
    EXPECT_EQ(first, 1.0f);

    std::vector<float> bias(2);
    ASSERT_EQ(svdq_safetensors_read_f32(f.get(), f.index_of("bias"), bias.data(), 2), SVDQ_OK) << last_error();
    EXPECT_EQ(bias, (std::vector<float>{1.5f, -2.0f}));
    EXPECT_EQ(f.index_of("absent"), -1);

    svdq_checkpoint_info c{};
    c.struct_size = sizeof c;
    ASSERT_EQ(svdq_checkpoint_inspect(f.get(), &c), SVDQ_OK);
    EXPECT_EQ(c.flavour, SVDQ_FLAVOUR_UNKNOWN);
    EXPECT_EQ(c.parameter_count, 9u);
}

TEST(CApiSafeTensors, MissingFileIsAnIoError) {
    expect_bad_file(testing::TempDir() + "svdq_no_such_file.safetensors", SVDQ_ERROR_IO, {"cannot open"});
}

TEST(CApiSafeTensors, DirectoryIsAnIoError) {
    expect_bad_file(testing::TempDir(), SVDQ_ERROR_IO, {"directory"});
}

TEST(CApiSafeTensors, FileShorterThanTheLengthField) {
    const std::string path = temp_file("short");
    std::ofstream(path, std::ios::binary) << "abc";
    expect_bad_file(path, SVDQ_ERROR_FORMAT, {"3 bytes long"});
}

TEST(CApiSafeTensors, HeaderLengthPastTheEndOfTheFile) {
    expect_bad_file(raw_file("len", "{}", "", 1000), SVDQ_ERROR_FORMAT, {"header length 1000 runs past the end"});
}

TEST(CApiSafeTensors, HugeHeaderLength) {
    expect_bad_file(raw_file("huge", "{}", "", UINT64_MAX - 1), SVDQ_ERROR_FORMAT, {"runs past the end"});
}

TEST(CApiSafeTensors, HeaderThatIsNotJson) {
    expect_bad_file(raw_file("json", "{\"a\": [1, 2"), SVDQ_ERROR_FORMAT, {"not valid JSON"});
    expect_bad_file(raw_file("start", "[1, 2]"), SVDQ_ERROR_FORMAT, {"does not start with '{'"});
}

TEST(CApiSafeTensors, TruncatedFileNamesTheTensorThatRunsPastTheEnd) {
    const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
    expect_bad_file(raw_file("trunc", header, std::string(20, '\0')), SVDQ_ERROR_FORMAT,
                    {"tensor 'b'", "run past the end of the data area (20 bytes)", "truncated"});
}

TEST(CApiSafeTensors, OverlappingOffsetsNameBothTensors) {
    const std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    expect_bad_file(raw_file("overlap", header, std::string(16, '\0')), SVDQ_ERROR_FORMAT,
                    {"tensor 'b'", "overlap tensor 'a' [0, 16)"});
}

TEST(CApiSafeTensors, GapBetweenTensors) {
    const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
    expect_bad_file(raw_file("gap", header, std::string(12, '\0')), SVDQ_ERROR_FORMAT, {"tensor 'b'", "unused"});
}

TEST(CApiSafeTensors, TrailingBytesAfterTheLastTensor) {
    const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    expect_bad_file(raw_file("trail", header, std::string(9, '\0')), SVDQ_ERROR_FORMAT, {"holds 9 bytes but the tensors cover 4"});
}

TEST(CApiSafeTensors, UnknownDtypeNamesTheTensorAndTheDtype) {
    const std::string header = R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})";
    expect_bad_file(raw_file("dtype", header, std::string(8, '\0')), SVDQ_ERROR_DTYPE, {"tensor 'w'", "unknown dtype 'C64'"});
}

TEST(CApiSafeTensors, ShapeThatDisagreesWithTheByteRange) {
    const std::string header = R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})";
    expect_bad_file(raw_file("size", header, std::string(8, '\0')), SVDQ_ERROR_FORMAT,
                    {"tensor 'w'", "hold 8 bytes but a BF16 tensor of shape [2, 3] needs 12"});
}

TEST(CApiSafeTensors, OffsetsOutOfOrder) {
    const std::string header = R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})";
    expect_bad_file(raw_file("order", header, std::string(4, '\0')), SVDQ_ERROR_FORMAT, {"tensor 'w'", "out of order"});
}

TEST(CApiSafeTensors, MalformedEntries) {
    const struct {
        const char* header;
        const char* needle;
    } cases[] = {
        {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "not a non-negative integer"},
        {R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})", "not a non-negative integer"},
        {R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", "9 dimensions"},
        {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "too large"},
        {R"({"w":{"dtype":"F32","shape":[1]}})", "no 'data_offsets'"},
        {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", "unexpected field 'extra'"},
        {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
         "key 'w' twice"},
        {R"({"w":[1,2]})", "not a JSON object"},
        {R"({"__metadata__":{"a":1}})", "__metadata__ entry 'a' is not a string"},
    };
    int i = 0;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.header);
        expect_bad_file(raw_file("entry" + std::to_string(i++), c.header, std::string(4, '\0')), SVDQ_ERROR_FORMAT, {c.needle});
    }
}

TEST(CApiSafeTensors, MissingTensorOfTheDetectedFlavourNamesIt) {
    const std::string path = temp_file("flavour");
    {
        Writer w;  // a Nunchaku INT4 layer without its wscales
        w.add("blocks.0.qkv_proj.qweight", SVDQ_DTYPE_I8, {128, 64}, std::vector<int8_t>(128 * 64));
        w.add("blocks.0.qkv_proj.smooth", SVDQ_DTYPE_BF16, {128}, std::vector<uint16_t>(128, 0x3f80));
        ASSERT_EQ(svdq_safetensors_writer_save(w.get(), path.c_str()), SVDQ_OK) << last_error();
    }
    File f(path);
    svdq_checkpoint_info info{};
    info.struct_size = sizeof info;
    expect_error(svdq_checkpoint_inspect(f.get(), &info), SVDQ_ERROR_FORMAT,
                 {path, "tensor 'blocks.0.qkv_proj.wscales' is missing"});
}

TEST(CApiSafeTensors, BadArguments) {
    const std::string path = temp_file("args");
    {
        Writer w;
        w.add("i", SVDQ_DTYPE_I32, {2}, std::vector<int32_t>{1, 2});
        expect_error(svdq_safetensors_writer_add_tensor(w.get(), "j", SVDQ_DTYPE_I32, nullptr, 1, nullptr, 0),
                     SVDQ_ERROR_INVALID_ARGUMENT, {"tensor 'j'"});
        const int64_t shape[] = {3};
        const int32_t values[] = {1, 2, 3};
        expect_error(svdq_safetensors_writer_add_tensor(w.get(), "i", SVDQ_DTYPE_I32, shape, 1, values, 12),
                     SVDQ_ERROR_INVALID_ARGUMENT, {"'i' was added twice"});
        expect_error(svdq_safetensors_writer_add_tensor(w.get(), "k", SVDQ_DTYPE_I32, shape, 1, values, 8),
                     SVDQ_ERROR_SHAPE_MISMATCH, {"tensor 'k'"});
        ASSERT_EQ(svdq_safetensors_writer_save(w.get(), path.c_str()), SVDQ_OK);
    }
    File f(path);
    svdq_safetensors_tensor t{};
    t.struct_size = sizeof t;
    expect_error(svdq_safetensors_get_tensor(f.get(), 1, &t), SVDQ_ERROR_INVALID_ARGUMENT, {"index 1"});
    t.struct_size = sizeof t + 8;  // a newer header than the library
    expect_error(svdq_safetensors_get_tensor(f.get(), 0, &t), SVDQ_ERROR_INVALID_ARGUMENT, {"struct_size"});
    float out[2];
    expect_error(svdq_safetensors_read_f32(f.get(), 0, out, 2), SVDQ_ERROR_DTYPE, {"tensor 'i'", "not a float dtype"});
    expect_error(svdq_safetensors_open(nullptr, nullptr), SVDQ_ERROR_INVALID_ARGUMENT, {"NULL"});
    EXPECT_EQ(svdq_safetensors_destroy(nullptr), SVDQ_OK);
    EXPECT_EQ(svdq_safetensors_writer_destroy(nullptr), SVDQ_OK);
}

}  // namespace
