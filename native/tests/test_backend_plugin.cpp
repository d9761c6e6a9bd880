// The engine's side of the plugin door (backend/plugin/plugin_backend.cpp),
// run without a GPU: a test double of a plugin library over the CPU backend
// (host_plugin/host_plugin.cpp) behind the same C table the CUDA library
// exports. Layers prepared on the host by the adapter and rebuilt by the
// plugin must compute exactly what the CPU backend computes directly, the
// whole FLUX forward included; failures inside the plugin come back as
// errors carrying its message.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/context.h"
#include "backend/plugin/dynamic_library.h"
#include "backend/plugin/plugin_backend.h"
#include "core/error.h"
#include "cpu_levels.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "linear_cases.h"
#include "test_util.h"

using namespace svdq;

namespace {

const svdq_backend_plugin& host_plugin() {
    static const svdq_backend_plugin* plugin = [] {
        std::string error;
        void* library = load_library(SVDQ_HOST_PLUGIN, error);
        if (library == nullptr) throw std::runtime_error(error);
        auto entry = reinterpret_cast<svdq_backend_plugin_entry>(library_symbol(library, SVDQ_PLUGIN_ENTRY_SYMBOL));
        if (entry == nullptr) throw std::runtime_error("no entry point");
        return entry();
    }();
    return *plugin;
}

std::unique_ptr<Backend> make_host_plugin_backend(ThreadPool& pool, svdq_cpu_level) {
    return make_plugin_backend(host_plugin(), SVDQ_BACKEND_CUDA, 0, pool);
}

Context plugin_context() { return Context(test::level_options(SVDQ_CPU_SCALAR), make_host_plugin_backend); }

TEST(BackendPlugin, DescribesItsDeviceAndReadsOnlyItsOwnMemory) {
    Context ctx = plugin_context();
    EXPECT_EQ(ctx.backend().kind(), SVDQ_BACKEND_CUDA);
    EXPECT_FALSE(ctx.backend().reads_host_memory());
    EXPECT_EQ(ctx.backend().description(), "host-test backend, device 0: host test device (compute capability 8.9, 1024 MiB)");
    std::vector<float> host(16, 1.0f);
    try {
        ctx.backend().silu(TensorView::host(host.data(), 1, 16));
        FAIL() << "a host view was handed to the plugin";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_INTERNAL);
        EXPECT_NE(std::string(e.what()).find("silu: a host view"), std::string::npos) << e.what();
    }
}

TEST(BackendPlugin, APluginFailureComesBackWithItsStatusAndMessage) {
    Context ctx = plugin_context();
    const Buffer a(ctx.backend(), 2, 8), b(ctx.backend(), 3, 8);
    try {
        ctx.backend().copy(a.view(), b.view());  // the CPU backend inside refuses the shapes
        FAIL() << "mismatched shapes were accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_INTERNAL);
        EXPECT_NE(std::string(e.what()).find("host-test copy: "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("[2, 8] and [3, 8]"), std::string::npos) << e.what();
    }
}

class BackendPluginLinear : public testing::TestWithParam<test::LinearCase> {};

TEST_P(BackendPluginLinear, MatchesTheCpuBackendBitForBit) {
    const test::LinearCase& c = GetParam();
    const int64_t m = 9, n = 80, k = 192, rank = 16;
    const LinearWeights w = test::case_weights(c, n, k, rank, true);
    const std::vector<LowRankUpdate> updates = test::case_updates(c, n, k);
    const std::vector<float> x = test::gaussian(static_cast<size_t>(m * k), 8);
    Context cpu(test::level_options(SVDQ_CPU_SCALAR));
    Context plugin = plugin_context();
    const std::vector<float> expected = test::run_linear(cpu, w, x, m, updates);
    EXPECT_EQ(test::run_linear(plugin, w, x, m, updates), expected);
    if (c.lora) {
        EXPECT_NE(test::run_linear(plugin, w, x, m), expected);  // the update did reach the plugin
    }
}

INSTANTIATE_TEST_SUITE_P(EverySchemeAndBranch, BackendPluginLinear, testing::ValuesIn(test::kEveryLinearCase),
                         [](const testing::TestParamInfo<test::LinearCase>& info) { return std::string(info.param.name); });

TEST(BackendPlugin, FluxForwardMatchesTheCpuBackendBitForBit) {
    const std::string model = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
    const FluxCheckpoint checkpoint(model);
    const FluxInputSet inputs = read_flux_inputs(SafeTensorsFile(model + "/inputs.safetensors"), checkpoint.config());
    for (svdq_linear_scheme kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A4}) {
        SCOPED_TRACE(kind == SVDQ_SCHEME_FLOAT ? "float" : "W4A4");
        Context cpu(test::level_options(SVDQ_CPU_SCALAR));
        Context plugin = plugin_context();
        const std::vector<float> expected = FluxTransformer(cpu, checkpoint, kind).forward(cpu, inputs.view());
        EXPECT_EQ(FluxTransformer(plugin, checkpoint, kind).forward(plugin, inputs.view()), expected);
    }
}

}  // namespace
