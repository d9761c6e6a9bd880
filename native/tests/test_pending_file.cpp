// Where written files land: unique temporaries that never collide or
// outlive their process, targets that must be regular files, never an open
// input, and keep their permissions.
#include <gtest/gtest.h>

#ifndef _WIN32
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "formats/pending_file.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"

namespace {

using namespace svdq;
namespace fs = std::filesystem;

class PendingFileTest : public testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::path(testing::TempDir()) / ("svdq_pending_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& f : fs::directory_iterator(dir_)) out.push_back(f.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }
    static void save(const std::string& target, float value, int64_t count = 1) {
        std::vector<float> values(static_cast<size_t>(count), value);
        SafeTensorsWriter filled;
        filled.add_view("v", SVDQ_DTYPE_F32, {count}, values.data(), values.size() * 4);
        filled.save(target);
    }
    template <class Body>
    static void expect_io_error(Body body, const std::string& needle) {
        try {
            body();
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SVDQ_ERROR_IO) << e.what();
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    }
    fs::path dir_;
};

}  // namespace

TEST_F(PendingFileTest, TwoWritersOfOneTargetEachLeaveAWholeFile) {
    // Both temporaries exist at once; with shared names one would truncate the other.
    PendingFile a(path("out.bin"), "partial"), b(path("out.bin"), "partial");
    EXPECT_NE(a.temporary(), b.temporary());
    const std::vector<char> ones(1 << 16, 1), twos(1 << 16, 2);
    a.write(ones.data(), ones.size());
    b.write(twos.data(), twos.size());
    a.commit();
    b.commit();
    std::ifstream in(path("out.bin"), std::ios::binary);
    const std::vector<char> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, twos) << "the last rename wins, whole";
    EXPECT_EQ(names(), std::vector<std::string>{"out.bin"});
}

TEST_F(PendingFileTest, ConcurrentSavesOfOneFileNeverMixTheirBytes) {
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) writers.emplace_back([&, t] { save(path("out.safetensors"), static_cast<float>(t + 1), 1 << 18); });
    for (std::thread& t : writers) t.join();
    const SafeTensorsFile f(path("out.safetensors"));
    const std::vector<float> v = f.read_f32(f.at("v"));
    for (float x : v) ASSERT_EQ(x, v.front()) << "one writer's values only";
    EXPECT_GE(v.front(), 1.0f);
    EXPECT_EQ(names(), std::vector<std::string>{"out.safetensors"});
}

TEST_F(PendingFileTest, TemporaryNamesFitTheNameLimit) {
    const std::string name = std::string(250, 'n') + ".st";  // 253 bytes: with a suffix the name would pass 255
    save(path(name), 1.0f);
    EXPECT_EQ(names(), std::vector<std::string>{name});
    PendingFile p(path(name), "spill");
    EXPECT_LE(p.temporary().filename().string().size(), 255u);
}

// POSIX only: FIFOs, /dev/null, symlinks (an administrator's right on
// Windows), permission bits (Windows has a read-only flag) and fork().
#ifndef _WIN32
TEST_F(PendingFileTest, NonRegularTargetsAreRefused) {
    fs::create_directory(path("a-dir"));
    expect_io_error([&] { save(path("a-dir"), 1.0f); }, "not a regular file");
    save(path("real.safetensors"), 1.0f);
    fs::create_symlink(path("real.safetensors"), path("link.safetensors"));
    expect_io_error([&] { save(path("link.safetensors"), 2.0f); }, "symbolic link");
    EXPECT_TRUE(fs::is_symlink(path("link.safetensors")));
    ASSERT_EQ(mkfifo(path("pipe").c_str(), 0600), 0);
    expect_io_error([&] { save(path("pipe"), 1.0f); }, "not a regular file");
    expect_io_error([&] { save("/dev/null", 1.0f); }, "not a regular file");
    EXPECT_EQ(names(), (std::vector<std::string>{"a-dir", "link.safetensors", "pipe", "real.safetensors"}));
}

TEST_F(PendingFileTest, AReplacedFileKeepsItsPermissions) {
    save(path("out.safetensors"), 1.0f);
    fs::permissions(path("out.safetensors"), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    save(path("out.safetensors"), 2.0f);
    EXPECT_EQ(fs::status(path("out.safetensors")).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}
#endif

TEST_F(PendingFileTest, AnOpenInputIsNeverReplaced) {
    save(path("in.safetensors"), 1.0f);
    fs::create_hard_link(path("in.safetensors"), path("hard.safetensors"));
#ifndef _WIN32
    fs::create_symlink(path("in.safetensors"), path("soft.safetensors"));
#endif
    {
        const SafeTensorsFile input(path("in.safetensors"));
        expect_io_error([&] { save(path("in.safetensors"), 2.0f); }, "is the input");
        expect_io_error([&] { save(path("hard.safetensors"), 2.0f); }, "is the input");
        expect_io_error([&] { save(path("./in.safetensors"), 2.0f); }, "is the input");
    }
    save(path("in.safetensors"), 3.0f);  // closed: an ordinary file again
    const SafeTensorsFile after(path("in.safetensors"));
    EXPECT_EQ(after.read_f32(after.at("v")), std::vector<float>{3.0f});
}

#ifndef _WIN32
TEST_F(PendingFileTest, TemporariesOfDeadProcessesAreCleanedAndLiveOnesKept) {
    const pid_t child = fork();
    if (child == 0) _exit(0);
    ASSERT_GT(child, 0);
    waitpid(child, nullptr, 0);  // a process id that is gone
    const std::string dead = ".svdq-" + std::to_string(child) + "-1-out.safetensors.partial";
    const std::string live = ".svdq-" + std::to_string(getpid()) + "-1-other.safetensors.spill";
    const std::string stranger = ".svdq-notapid-out.partial";
    for (const std::string& n : {dead, live, stranger}) std::ofstream(path(n)) << "left behind";
    save(path("out.safetensors"), 1.0f);
    EXPECT_EQ(names(), (std::vector<std::string>{live, stranger, "out.safetensors"}));
}
#endif
