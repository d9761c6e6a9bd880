// Devices and backends through the C API: the CPU always; CUDA refused with
// the reason wherever it cannot run (this machine: no GPU), AUTO falling back
// to the CPU; SVDQ_CUDA_LIBRARY naming where the CUDA library is looked for.
// Cases that need CUDA to be unusable skip, saying so, on a machine with a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "posix_env.h"
#include "svdquant.h"

namespace {

// Why CUDA cannot run here, or "" when it can.
std::string why_cuda_cannot_run() {
    int32_t count = 0;
    if (svdq_backend_device_count(SVDQ_BACKEND_CUDA, &count) == SVDQ_OK) return "";
    return svdq_last_error_message();
}

bool names_a_reason(const std::string& message) {
    for (const char* reason : {"svdquant_cuda", "driver", "no GPU", "no usable GPU", "older than"})
        if (message.find(reason) != std::string::npos) return true;
    return false;
}

TEST(CApiDevices, TheCpuIsOneDeviceWithAName) {
    int32_t count = 0;
    ASSERT_EQ(svdq_backend_device_count(SVDQ_BACKEND_CPU, &count), SVDQ_OK);
    EXPECT_EQ(count, 1);
    svdq_device_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_backend_device_info(SVDQ_BACKEND_CPU, 0, &info), SVDQ_OK);
    EXPECT_EQ(info.backend, SVDQ_BACKEND_CPU);
    EXPECT_EQ(info.ordinal, 0);
    EXPECT_NE(std::string(info.name).find("CPU"), std::string::npos) << info.name;
    EXPECT_GT(info.multiprocessors, 0);
    EXPECT_EQ(info.compute_capability, 0);
    EXPECT_EQ(svdq_backend_device_info(SVDQ_BACKEND_CPU, 1, &info), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(svdq_last_error_message()).find("device 1 does not exist"), std::string::npos);
}

TEST(CApiDevices, AutoIsNotADeviceBackend) {
    int32_t count = 7;
    EXPECT_EQ(svdq_backend_device_count(SVDQ_BACKEND_AUTO, &count), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(count, 0);
    EXPECT_EQ(svdq_backend_device_count(SVDQ_BACKEND_CPU, nullptr), SVDQ_ERROR_INVALID_ARGUMENT);
}

TEST(CApiDevices, CudaThatCannotRunIsRefusedWithTheReason) {
    const std::string why = why_cuda_cannot_run();
    if (why.empty()) GTEST_SKIP() << "CUDA runs on this machine";
    EXPECT_TRUE(names_a_reason(why)) << why;
    int32_t count = 3;
    EXPECT_EQ(svdq_backend_device_count(SVDQ_BACKEND_CUDA, &count), SVDQ_ERROR_UNSUPPORTED);
    EXPECT_EQ(count, 0);

    svdq_context_options o{};
    svdq_context_options_init(&o);
    o.backend = SVDQ_BACKEND_CUDA;
    svdq_context* ctx = reinterpret_cast<svdq_context*>(0x1);
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_UNSUPPORTED);
    EXPECT_EQ(ctx, nullptr);
    const std::string message = svdq_last_error_message();
    EXPECT_NE(message.find("svdq_context_create"), std::string::npos) << message;
    EXPECT_TRUE(names_a_reason(message)) << message;
}

TEST(CApiDevices, AutoRunsOnTheCpuWhereCudaCannot) {
    if (why_cuda_cannot_run().empty()) GTEST_SKIP() << "CUDA runs on this machine: AUTO takes it";
    std::string logged;
    svdq_context_options o{};
    svdq_context_options_init(&o);
    o.backend = SVDQ_BACKEND_AUTO;
    o.log_callback = [](int32_t, const char* line, void* user) { *static_cast<std::string*>(user) += std::string(line) + "\n"; };
    o.log_user = &logged;
    svdq_context* ctx = nullptr;
    ASSERT_EQ(svdq_context_create(&o, &ctx), SVDQ_OK) << svdq_last_error_message();
    svdq_context_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(svdq_context_get_info(ctx, &info), SVDQ_OK);
    EXPECT_EQ(info.backend, SVDQ_BACKEND_CPU);
    EXPECT_EQ(info.device, 0);
    EXPECT_NE(logged.find("backend AUTO runs on the CPU"), std::string::npos) << logged;
    svdq_context_destroy(ctx);
}

TEST(CApiDevices, BadDeviceAndBackendValuesAreNamed) {
    svdq_context_options o{};
    svdq_context_options_init(&o);
    svdq_context* ctx = nullptr;
    o.device = -1;
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(svdq_last_error_message()).find("device -1"), std::string::npos);
    o.device = 1;  // the CPU has device 0 only
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(svdq_last_error_message()).find("device 1 does not exist"), std::string::npos);
    o.device = 0;
    o.backend = 3;
    EXPECT_EQ(svdq_context_create(&o, &ctx), SVDQ_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(svdq_last_error_message()).find("backend 3"), std::string::npos);
    EXPECT_EQ(ctx, nullptr);
}

// The library is looked for once per process, so these run in a child process of their own.
void expect_cuda_refusal_naming(const char* library, const std::string& part) {
    EXPECT_EXIT(
        {
            setenv("SVDQ_CUDA_LIBRARY", library, 1);
            int32_t count = 0;
            const svdq_status status = svdq_backend_device_count(SVDQ_BACKEND_CUDA, &count);
            const std::string message = svdq_last_error_message();
            std::exit(status == SVDQ_ERROR_UNSUPPORTED && message.find(part) != std::string::npos ? 0 : 1);
        },
        testing::ExitedWithCode(0), "")
        << "expected UNSUPPORTED naming \"" << part << "\"";
}

TEST(CApiDevicesDeathTest, AMissingCudaLibraryIsNamedWithItsPath) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    expect_cuda_refusal_naming("/nonexistent/libsvdquant_cuda.so", "/nonexistent/libsvdquant_cuda.so (SVDQ_CUDA_LIBRARY) is not there");
}

TEST(CApiDevicesDeathTest, ALibraryThatIsNoBackendIsRefused) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    // libsvdquant itself: a real shared library without the plugin's entry point.
    expect_cuda_refusal_naming(SVDQ_ENGINE_LIBRARY, "has no svdq_backend_plugin_get entry point");
}

TEST(CApiDevicesDeathTest, ALibraryOfAnotherPluginAbiIsRefused) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    expect_cuda_refusal_naming(SVDQ_WRONG_ABI_PLUGIN, "ship the two libraries from one build");
}

}  // namespace
