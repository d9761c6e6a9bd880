// The backend boundary, proven without a GPU: a backend whose memory is
// PROT_NONE outside its own ops runs the whole FLUX forward and a linear
// layer, and matches the CPU backend bit for bit. Any host access to backend
// memory from nn/ or models/ would crash these tests.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/context.h"
#include "cpu_levels.h"
#include "guarded_backend.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "nn/linear.h"
#include "nunchaku_flux_fixture.h"
#include "test_util.h"

using namespace svdq;

namespace {

test::GuardedBackend* guarded_of(Context& ctx) { return dynamic_cast<test::GuardedBackend*>(&ctx.backend()); }

std::unique_ptr<Backend> make_guarded(ThreadPool& pool, svdq_cpu_level level) {
    return std::make_unique<test::GuardedBackend>(pool, level);
}

std::vector<float> flux_output(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_scheme kind, const FluxInputSet& inputs) {
    const FluxTransformer model(ctx, checkpoint, kind);
    return model.forward(ctx, inputs.view());
}

}  // namespace

TEST(GuardedBackend, HostAccessToItsMemoryCrashes) {
    // The premise of every test below: the guard really stops host code.
    Context ctx(test::context_options(), make_guarded);
    const Buffer buffer(ctx.backend(), 4, 16);
    EXPECT_DEATH({ buffer.view().data[3] = 1.0f; }, "");
    EXPECT_DEATH({ std::printf("%f", static_cast<double>(buffer.view().data[0])); }, "");
}

TEST(GuardedBackend, RefusesHostMemoryAsItsOwn) {
    Context ctx(test::context_options(), make_guarded);
    std::vector<float> host(16, 1.0f);
    EXPECT_THROW(ctx.backend().silu(TensorView::host(host.data(), 1, 16)), std::logic_error);
}

TEST(GuardedBackend, LinearMatchesTheCpuBackendBitForBit) {
    const int64_t m = 5, n = 96, k = 128;
    LinearWeights w;
    w.n = n;
    w.k = k;
    w.weight = test::gaussian(static_cast<size_t>(n * k), 1, 0.05f);
    w.bias = test::gaussian(static_cast<size_t>(n), 2);
    const std::vector<float> x = test::gaussian(static_cast<size_t>(m * k), 3);
    for (svdq_linear_scheme kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A16, SVDQ_SCHEME_W4A4}) {
        SCOPED_TRACE(kind);
        w.scheme = kind;
        w.format = kind == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
        const auto run = [&](Context& ctx) {
            std::vector<float> y(static_cast<size_t>(m * n));
            Linear(ctx, w).forward(ctx, x.data(), m, y.data());
            return y;
        };
        Context cpu(test::context_options());
        Context guarded(test::context_options(), make_guarded);
        EXPECT_EQ(run(guarded), run(cpu));
        EXPECT_GT(guarded_of(guarded)->ops(), 0u);
    }
}

TEST(GuardedBackend, FluxForwardMatchesTheCpuBackendBitForBit) {
    const std::string model = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
    const FluxCheckpoint checkpoint(model);
    const FluxInputSet inputs = read_flux_inputs(SafeTensorsFile(model + "/inputs.safetensors"), checkpoint.config());
    for (svdq_linear_scheme kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A4}) {
        SCOPED_TRACE(kind == SVDQ_SCHEME_FLOAT ? "float" : "W4A4");
        Context cpu(test::context_options());
        Context guarded(test::context_options(), make_guarded);
        const std::vector<float> expected = flux_output(cpu, checkpoint, kind, inputs);
        EXPECT_EQ(flux_output(guarded, checkpoint, kind, inputs), expected);
        // Every op of the forward ran inside the backend: a few per block at least.
        EXPECT_GT(guarded_of(guarded)->ops(), 20u * static_cast<uint64_t>(checkpoint.config().num_layers + checkpoint.config().num_single_layers));
    }
}

TEST(GuardedBackend, NunchakuCheckpointForwardMatchesTheCpuBackendBitForBit) {
    for (const bool nvfp4 : {false, true}) {
        SCOPED_TRACE(nvfp4 ? "NVFP4" : "INT4");
        const std::string path = testing::TempDir() + "/guarded-nunchaku.safetensors";
        test::FluxFixtureOptions o;
        o.nvfp4 = nvfp4;
        o.style = nvfp4 ? test::FluxFileStyle::OursV0 : test::FluxFileStyle::Reference;  // the reference packer writes INT4
        test::write_flux_fixture(path, o);
        const FluxCheckpoint checkpoint(path);
        const FluxInputSet inputs = synthetic_flux_inputs(checkpoint.config(), 1, 7);
        Context cpu(test::context_options());
        Context guarded(test::context_options(), make_guarded);
        const std::vector<float> expected = flux_output(cpu, checkpoint, SVDQ_SCHEME_FLOAT, inputs);
        EXPECT_EQ(flux_output(guarded, checkpoint, SVDQ_SCHEME_FLOAT, inputs), expected);
        std::remove(path.c_str());
    }
}
