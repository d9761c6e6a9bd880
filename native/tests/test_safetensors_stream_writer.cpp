// The streaming safetensors writer: the file it finishes is byte for byte the
// in-memory writer's, its bytes are taken at add(), and every failure is a
// named error that leaves neither the target nor a temporary behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>

#include "core/error.h"
#include "core/tensor.h"
#include "format_test_util.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_stream_writer.h"
#include "formats/safetensors_writer.h"

#ifdef __linux__
#include <sys/resource.h>

#include <csignal>
#endif

namespace {

using namespace svdq;
using namespace svdq::test;
namespace fs = std::filesystem;

// An empty directory of its own per test, removed afterwards.
class StreamWriter : public testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::path(temp_path("dir"));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const std::string& file) const { return (dir_ / file).string(); }
    // The folder's names, a temporary (".svdq-PID-RANDOM-name.kind") shown as "name.kind".
    std::vector<std::string> listing() const {
        static const std::regex temporary(R"(^\.svdq-[0-9]+-[0-9]+-)");
        std::vector<std::string> names;
        for (const auto& f : fs::directory_iterator(dir_)) names.push_back(std::regex_replace(f.path().filename().string(), temporary, ""));
        std::sort(names.begin(), names.end());
        return names;
    }

    fs::path dir_;
};

std::vector<uint8_t> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

struct Sample {
    std::string name;
    int32_t dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};

// Many tensors of every element size, odd byte counts included, a scalar and
// an empty one, in an order that is neither by name nor by element size.
std::vector<Sample> mixed_tensors() {
    const int32_t dtypes[] = {SVDQ_DTYPE_F32, SVDQ_DTYPE_BF16, SVDQ_DTYPE_I8,  SVDQ_DTYPE_F64,
                              SVDQ_DTYPE_F16, SVDQ_DTYPE_U8,   SVDQ_DTYPE_I64, SVDQ_DTYPE_F8_E4M3};
    std::mt19937_64 rng(7);
    std::vector<Sample> samples;
    for (int i = 0; i < 64; ++i) {
        const int32_t dtype = dtypes[i % 8];
        const std::vector<int64_t> shape = {static_cast<int64_t>(1 + rng() % 9), static_cast<int64_t>(1 + rng() % 13)};
        const auto size = static_cast<int64_t>(dtype_size(dtype)) * shape[0] * shape[1];
        samples.push_back({"block." + std::to_string(i * 37 % 64) + ".w", dtype, shape, random_bytes(size, rng())});
    }
    samples.push_back({"scalar", SVDQ_DTYPE_F32, {}, random_bytes(4, 1)});
    samples.push_back({"empty", SVDQ_DTYPE_BF16, {0, 5}, {}});
    std::shuffle(samples.begin(), samples.end(), rng);
    return samples;
}

TEST_F(StreamWriter, FileIsByteIdenticalToTheInMemoryWritersAndEveryTensorAligned) {
    const std::vector<Sample> samples = mixed_tensors();
    SafeTensorsWriter memory;
    SafeTensorsStreamWriter stream(path("stream.safetensors"));
    std::vector<uint8_t> scratch;  // one buffer, overwritten for every tensor: add() must copy at once
    for (const Sample& s : samples) {
        memory.add_copy(s.name, s.dtype, s.shape, s.bytes.data(), s.bytes.size());
        scratch = s.bytes;
        stream.add(s.name, s.dtype, s.shape, scratch.data(), scratch.size());
        std::fill(scratch.begin(), scratch.end(), uint8_t{0xAB});
    }
    stream.set_metadata("format", "pt");
    memory.set_metadata("format", "pt");
    memory.save(path("memory.safetensors"));
    EXPECT_TRUE(stream.contains("scalar"));
    stream.finish();

    EXPECT_EQ(listing(), (std::vector<std::string>{"memory.safetensors", "stream.safetensors"})) << "no temporaries left";
    const std::vector<uint8_t> written = file_bytes(path("stream.safetensors"));
    ASSERT_GT(written.size(), 8u);
    EXPECT_TRUE(written == file_bytes(path("memory.safetensors")));

    const SafeTensorsFile f(path("stream.safetensors"));
    ASSERT_EQ(f.tensors().size(), samples.size());
    EXPECT_EQ(f.metadata().at("format"), "pt");
    for (const Sample& s : samples) {
        const TensorEntry& t = f.at(s.name);
        EXPECT_EQ(t.dtype, s.dtype) << s.name;
        EXPECT_EQ(t.shape, s.shape) << s.name;
        EXPECT_EQ(std::vector<uint8_t>(f.data(t), f.data(t) + t.size_bytes()), s.bytes) << s.name;
        EXPECT_EQ((f.data_offset() + t.begin) % dtype_size(s.dtype), 0u) << s.name << " is aligned to its element size";
    }
}

TEST_F(StreamWriter, AddAllTakesBlocksWhichCanThenBeDropped) {
    const std::vector<Sample> samples = mixed_tensors();
    SafeTensorsWriter whole;
    SafeTensorsStreamWriter stream(path("stream.safetensors"));
    for (size_t begin = 0; begin < samples.size(); begin += 10) {
        SafeTensorsWriter block;
        for (size_t i = begin; i < std::min(begin + 10, samples.size()); ++i) {
            const Sample& s = samples[i];
            block.add(s.name, s.dtype, s.shape, s.bytes);
            whole.add_view(s.name, s.dtype, s.shape, s.bytes.data(), s.bytes.size());
        }
        block.set_metadata("block" + std::to_string(begin), "x");
        whole.set_metadata("block" + std::to_string(begin), "x");
        stream.add_all(block);
    }
    stream.finish();
    whole.save(path("whole.safetensors"));
    EXPECT_TRUE(file_bytes(path("stream.safetensors")) == file_bytes(path("whole.safetensors")));
}

TEST_F(StreamWriter, AnEmptyFileMatchesTheInMemoryWriters) {
    SafeTensorsStreamWriter stream(path("stream.safetensors"));
    stream.finish();
    SafeTensorsWriter().save(path("memory.safetensors"));
    EXPECT_TRUE(file_bytes(path("stream.safetensors")) == file_bytes(path("memory.safetensors")));
    EXPECT_TRUE(SafeTensorsFile(path("stream.safetensors")).tensors().empty());
}

void expect_error(const std::function<void()>& call, svdq_status status, const std::string& needle) {
    try {
        call();
        ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST_F(StreamWriter, RejectsBadTensorsByNameAndStaysUsable) {
    SafeTensorsStreamWriter w(path("out.safetensors"));
    const float v[3] = {1, 2, 3};
    w.add("x", SVDQ_DTYPE_F32, {2}, v, 8);
    expect_error([&] { w.add("x", SVDQ_DTYPE_F32, {2}, v, 8); }, SVDQ_ERROR_INVALID_ARGUMENT, "'x' was added twice");
    expect_error([&] { w.add("y", SVDQ_DTYPE_F32, {3}, v, 8); }, SVDQ_ERROR_SHAPE_MISMATCH, "tensor 'y'");
    expect_error([&] { w.add("z", 99, {2}, v, 8); }, SVDQ_ERROR_DTYPE, "tensor 'z'");
    expect_error([&] { w.add("n", SVDQ_DTYPE_F32, {2}, nullptr, 8); }, SVDQ_ERROR_INVALID_ARGUMENT, "tensor 'n'");
    expect_error([&] { w.add("", SVDQ_DTYPE_F32, {2}, v, 8); }, SVDQ_ERROR_INVALID_ARGUMENT, "cannot name a tensor");
    expect_error([&] { w.add("__metadata__", SVDQ_DTYPE_F32, {2}, v, 8); }, SVDQ_ERROR_INVALID_ARGUMENT,
                 "'__metadata__' cannot name a tensor");
    w.add("w", SVDQ_DTYPE_F32, {3}, v, 12);
    w.finish();
    expect_error([&] { w.add("late", SVDQ_DTYPE_F32, {2}, v, 8); }, SVDQ_ERROR_INVALID_ARGUMENT, "after finish()");
    expect_error([&] { w.finish(); }, SVDQ_ERROR_INVALID_ARGUMENT, "finish() was called twice");

    const SafeTensorsFile f(path("out.safetensors"));
    ASSERT_EQ(f.tensors().size(), 2u) << "rejected tensors left no trace";
    EXPECT_EQ(f.read_f32(f.at("x")), (std::vector<float>{1, 2}));
    EXPECT_EQ(f.read_f32(f.at("w")), (std::vector<float>{1, 2, 3}));
}

TEST_F(StreamWriter, AnUnfinishedWriterLeavesTheTargetUntouchedAndNoTemporaries) {
    write_text(path("out.safetensors"), "old");
    {
        SafeTensorsStreamWriter w(path("out.safetensors"));
        const std::vector<uint8_t> bytes = random_bytes(1 << 16, 3);
        w.add("a", SVDQ_DTYPE_U8, {1 << 16}, bytes.data(), bytes.size());
        EXPECT_EQ(listing(), (std::vector<std::string>{"out.safetensors", "out.safetensors.spill"}));
    }
    EXPECT_EQ(listing(), (std::vector<std::string>{"out.safetensors"}));
    EXPECT_EQ(file_bytes(path("out.safetensors")), (std::vector<uint8_t>{'o', 'l', 'd'}));
}

TEST_F(StreamWriter, AnUnwritableDirectoryIsAnIoErrorNamingThePath) {
    const std::string missing = path("no-such-dir/out.safetensors");
    expect_error([&] { SafeTensorsStreamWriter w(missing); }, SVDQ_ERROR_IO, missing);
    write_text(path("a-file"), "x");
    const std::string under_a_file = path("a-file/out.safetensors");
    expect_error([&] { SafeTensorsStreamWriter w(under_a_file); }, SVDQ_ERROR_IO, under_a_file);
    EXPECT_EQ(listing(), (std::vector<std::string>{"a-file"}));
}

#ifdef __linux__
// Lowers the file size limit for this process, as a full disk would: writes
// past it fail with EFBIG (SIGXFSZ ignored) instead of killing the process.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        getrlimit(RLIMIT_FSIZE, &saved_);
        handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lowered = saved_;
        lowered.rlim_cur = bytes;
        ok_ = setrlimit(RLIMIT_FSIZE, &lowered) == 0;
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, handler_);
    }
    bool ok() const { return ok_; }

private:
    rlimit saved_{};
    void (*handler_)(int) = nullptr;
    bool ok_ = false;
};

TEST_F(StreamWriter, AWriteFailureWhileFinishingIsAnIoErrorAndLeavesNothingBehind) {
    const std::string target = path("out.safetensors");
    write_text(target, "old");
    const std::vector<uint8_t> bytes = random_bytes(1 << 16, 4);
    {
        SafeTensorsStreamWriter w(target);
        // The spill (the data alone) fits under the limit; the file (header + data) does not.
        const FileSizeLimit limit(bytes.size() + 8);
        ASSERT_TRUE(limit.ok());
        w.add("a", SVDQ_DTYPE_U8, {1 << 16}, bytes.data(), bytes.size());
        expect_error([&] { w.finish(); }, SVDQ_ERROR_IO, target);
        EXPECT_EQ(listing(), (std::vector<std::string>{"out.safetensors", "out.safetensors.spill"}))
            << "the partial file is gone at once";
    }
    EXPECT_EQ(listing(), (std::vector<std::string>{"out.safetensors"}));
    EXPECT_EQ(file_bytes(target), (std::vector<uint8_t>{'o', 'l', 'd'}));
}

TEST_F(StreamWriter, AWriteFailureWhileAddingIsAnIoErrorAndFinishRefuses) {
    const std::string target = path("out.safetensors");
    const std::vector<uint8_t> bytes = random_bytes(1 << 16, 5);
    {
        SafeTensorsStreamWriter w(target);
        const FileSizeLimit limit(4096);
        ASSERT_TRUE(limit.ok());
        expect_error([&] { w.add("a", SVDQ_DTYPE_U8, {1 << 16}, bytes.data(), bytes.size()); }, SVDQ_ERROR_IO, target);
        expect_error([&] { w.finish(); }, SVDQ_ERROR_IO, target);
    }
    EXPECT_TRUE(listing().empty());
}
#endif

}  // namespace
