// Temporary paths for the tests. CTest runs every test in its own process, in
// parallel, and other runs may share the temporary folder: each process writes
// into a folder of its own, removed when the process exits.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

namespace svdq::test {

class RunFolder {
public:
    RunFolder() : path_(std::filesystem::path(testing::TempDir()) / ("svdq-test-" + std::to_string(std::random_device{}()))) {
        std::filesystem::create_directories(path_);
    }
    ~RunFolder() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// This process's folder.
inline const std::filesystem::path& run_folder() {
    static const RunFolder folder;
    return folder.path();
}

// A path unique to this process and test (parameters included).
inline std::string temp_path(const std::string& name) {
    const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "environment";
    for (char& c : test)
        if (c == '/') c = '_';  // parameterized tests have slashes in their names
    return (run_folder() / (test + "_" + name)).string();
}

}  // namespace svdq::test
