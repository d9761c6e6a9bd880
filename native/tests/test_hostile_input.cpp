// Files crafted to break the readers: each gets a named SVDQ error, at once,
// never a stack overflow, a hang or a name that the C API would truncate.
#include <gtest/gtest.h>

#ifndef _WIN32
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "core/error.h"
#include "format_test_util.h"
#include "formats/json_text.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_header.h"
#include "formats/safetensors_writer.h"
#include "models/flux/flux_checkpoint.h"
#include "formats/quantized_layer_file.h"

namespace {

using namespace svdq;
using namespace svdq::test;
namespace fs = std::filesystem;

// A safetensors file with this header text and no tensor data.
std::string file_with_header(const std::string& tag, const std::string& header) {
    const std::string path = temp_path(tag);
    std::ofstream out(path, std::ios::binary);
    uint64_t length = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xFF));
    out << header;
    return path;
}

std::string nested(int depth) { return std::string(static_cast<size_t>(depth), '[') + std::string(static_cast<size_t>(depth), ']'); }

// Runs `open` and expects SVDQ `status` with every needle in the message.
template <class Open>
void expect_error(Open open, svdq_status status, std::initializer_list<std::string> needles) {
    try {
        open();
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        for (const std::string& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace

TEST(HostileJson, DeepNestingStopsAtTheDepthLimit) {
    // 10^5 levels: the parser's recursion (or the document's destructor)
    // would overflow the stack long before the end.
    for (const std::string& where : {std::string("{\"a\": ") + nested(100000) + "}",
                                     "{\"__metadata__\": {\"k\": " + nested(100000) + "}}"}) {
        const std::string path = file_with_header("deep", where);
        expect_error([&] { SafeTensorsFile f(path); }, SVDQ_ERROR_FORMAT, {path, "nests deeper than 64 levels"});
    }
    EXPECT_NO_THROW(parse_json("{\"a\": " + nested(kJsonMaxDepth - 1) + "}", "the limit itself"));
}

TEST(HostileJson, AHeaderOfOpenBracketsFailsFast) {
    // The largest header the reader takes, all '[': rejected at level 64,
    // not after building a document of 10^8 arrays.
    const std::string header = "{\"a\":" + std::string(kMaxSafeTensorsHeaderBytes - 5, '[');
    const std::string path = file_with_header("brackets", header);
    const auto start = std::chrono::steady_clock::now();
    expect_error([&] { SafeTensorsFile f(path); }, SVDQ_ERROR_FORMAT, {"nests deeper"});
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
    fs::remove(path);
}

TEST(HostileJson, ValueFloodStopsAtTheBudget) {
    std::string flood = "{\"a\": [0";
    for (size_t i = 0; i < kJsonMaxValues; ++i) flood += ",0";
    flood += "]}";
    expect_error([&] { parse_json(flood, "flood"); }, SVDQ_ERROR_FORMAT, {"flood holds more than"});
}

TEST(HostileJson, DeepConfigAndLayerMetadataAreNamed) {
    const std::string dir = temp_path("deep_config_model");
    fs::create_directories(dir);
    std::ofstream(dir + "/config.json") << "{\"_class_name\": " << nested(100000) << "}";
    SafeTensorsWriter w;
    w.add("x", SVDQ_DTYPE_F32, {1}, std::vector<uint8_t>(4, 0));
    w.save(dir + "/diffusion_pytorch_model.safetensors");
    expect_error([&] { FluxCheckpoint c(dir); }, SVDQ_ERROR_FORMAT, {"config.json", "nests deeper"});
    fs::remove_all(dir);

    SafeTensorsWriter layer;
    layer.add("layer.qweight", SVDQ_DTYPE_I8, {1}, std::vector<uint8_t>(1, 0));
    layer.set_metadata("svdquant_layer", nested(100000));
    const std::string path = temp_path("deep_layer");
    layer.save(path);
    expect_error([&] { read_quantized_layer(path); }, SVDQ_ERROR_FORMAT, {path, "nests deeper"});
}

TEST(HostileNames, NulInATensorNameOrMetadataIsRefused) {
    // "weight" and "weight\0b" are two JSON keys but one C string.
    const std::string two = file_with_header(
        "nul_name", R"({"weight": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]},)"
                    R"( "weight\u0000b": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}})");
    expect_error([&] { SafeTensorsFile f(two); }, SVDQ_ERROR_FORMAT, {"tensor 'weight\\0b'", "NUL"});
    const std::string key = file_with_header("nul_key", R"({"__metadata__": {"a\u0000b": "x"}})");
    expect_error([&] { SafeTensorsFile f(key); }, SVDQ_ERROR_FORMAT, {"key 'a\\0b'", "NUL"});
    const std::string value = file_with_header("nul_value", R"({"__metadata__": {"config": "{}\u0000{}"}})");
    expect_error([&] { SafeTensorsFile f(value); }, SVDQ_ERROR_FORMAT, {"entry 'config'", "NUL"});
}

#ifndef _WIN32  // Windows has no FIFOs in its file system
TEST(HostilePaths, AFifoIsRefusedWithoutWaitingForAWriter) {
    const std::string path = temp_path("fifo");
    fs::remove(path);
    ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    auto opened = std::async(std::launch::async, [&] {
        expect_error([&] { SafeTensorsFile f(path); }, SVDQ_ERROR_IO, {path, "not a regular file"});
    });
    if (opened.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) {
        const int unblock = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);  // lets a blocked open return
        opened.wait();
        if (unblock >= 0) ::close(unblock);
        ADD_FAILURE() << "opening a FIFO waited for a writer";
    }
    fs::remove(path);
}
#endif
