// The CUDA backend against the CPU: a linear layer of every scheme and
// branch mode (the integer parts exact, so only the float order differs),
// and the whole FLUX forward (float, W4A4 quantized at load, a Nunchaku INT4
// file). Every case skips, naming why, where CUDA cannot run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backend/context.h"
#include "core/error.h"
#include "cpu_levels.h"
#include "models/flux/flux_checkpoint.h"
#include "models/flux/flux_input_set.h"
#include "models/flux/flux_transformer.h"
#include "linear_cases.h"
#include "nunchaku_flux_fixture.h"
#include "temp_path.h"
#include "test_util.h"

using namespace svdq;

namespace {

// A context on the first GPU, or null with the reason in `why`.
std::unique_ptr<Context> cuda_context(std::string& why) {
    svdq_context_options o = test::context_options();
    o.backend = SVDQ_BACKEND_CUDA;
    try {
        return std::make_unique<Context>(o);
    } catch (const Error& e) {
        if (e.status() != SVDQ_ERROR_UNSUPPORTED) throw;
        why = e.what();
        return nullptr;
    }
}

#define SVDQ_REQUIRE_CUDA(ctx)                                          \
    std::string why_;                                                   \
    const std::unique_ptr<Context> ctx = cuda_context(why_);            \
    if (!ctx) GTEST_SKIP() << "CUDA backend unavailable: " << why_;

// max |a - b| / max |b|: the error relative to the output's scale.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
    return diff / scale;
}

// Bounds, relative to the output's scale: fp32 paths differ from the CPU only in summation order and
// FMA (~1e-6 at K = 640); the BF16 float layer rounds x to BF16 for cuBLAS (2^-9 per value, ~3e-3).
struct CudaCase {
    test::LinearCase layer;
    double bound;
};

void PrintTo(const CudaCase& c, std::ostream* os) { *os << c.layer.name; }

const CudaCase kLayerCases[] = {
    {{"float_f32", SVDQ_SCHEME_FLOAT, false, false, false, false, false, false}, 2e-5},
    {{"float_bf16", SVDQ_SCHEME_FLOAT, true, false, false, false, false, false}, 5e-3},
    {{"w4a16", SVDQ_SCHEME_W4A16, false, false, false, false, true, false}, 2e-5},
    {{"w4a4", SVDQ_SCHEME_W4A4, false, false, false, false, false, false}, 2e-5},
    {{"w4a4_svdquant_fused", SVDQ_SCHEME_W4A4, false, true, true, false, true, false}, 2e-5},
    {{"w4a4_svdquant_unfused", SVDQ_SCHEME_W4A4, false, true, true, true, false, false}, 2e-5},
    {{"w4a4_svdquant_lora", SVDQ_SCHEME_W4A4, false, true, true, false, true, true}, 2e-5},
};

class CudaLinearTest : public testing::TestWithParam<CudaCase> {};

TEST_P(CudaLinearTest, MatchesTheCpu) {
    SVDQ_REQUIRE_CUDA(gpu);
    const CudaCase& c = GetParam();
    // Ragged sizes: M and N not multiples of the 128-wide tiles, K of 64.
    const int64_t m = 77, n = 200, k = 640, rank = 32;
    const LinearWeights w = test::case_weights(c.layer, n, k, rank, false);
    const std::vector<LowRankUpdate> updates = test::case_updates(c.layer, n, k);
    const std::vector<float> x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 8), k, 37, 12.0f);
    Context cpu(test::level_options(SVDQ_CPU_SCALAR));
    const std::vector<float> expected = test::run_linear(cpu, w, x, m, updates);
    EXPECT_LT(relative_error(test::run_linear(*gpu, w, x, m, updates), expected), c.bound);
}

INSTANTIATE_TEST_SUITE_P(EverySchemeAndBranch, CudaLinearTest, testing::ValuesIn(kLayerCases),
                         [](const testing::TestParamInfo<CudaCase>& info) { return std::string(info.param.layer.name); });

TEST(CudaLinear, NonFiniteInputIsRefusedWithItsPlace) {
    SVDQ_REQUIRE_CUDA(gpu);
    LinearWeights w;
    w.scheme = SVDQ_SCHEME_W4A4;
    w.format = SVDQ_FORMAT_INT4;
    w.n = 64;
    w.k = 128;
    w.weight = test::gaussian(64 * 128, 1, 0.05f);
    std::vector<float> x = test::gaussian(3 * 128, 2);
    x[128 + 5] = NAN;
    try {
        test::run_linear(*gpu, w, x, 3);
        FAIL() << "NaN was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_NON_FINITE);
        EXPECT_NE(std::string(e.what()).find("row 1, column 5"), std::string::npos) << e.what();
    }
}

std::vector<float> download(Context& ctx, const TensorView& v) {
    std::vector<float> host(static_cast<size_t>(v.numel()));
    ctx.backend().download(v, host.data());
    return host;
}

// Two W4A4 layers as FLUX's MLP (GELU, then a shifted unsigned input), 384 hidden features: one
// 128-wide tile and a half one, so a warp whose 64 columns lie past the end must write nothing.
TEST(CudaLinear, FusedMlpMatchesItsLayersRunOneByOne) {
    SVDQ_REQUIRE_CUDA(gpu);
    const int64_t m = 77, k = 320, hidden = 384, n = 192, rank = 32;
    const LinearWeights first =
        test::case_weights({"fc1", SVDQ_SCHEME_W4A4, false, true, true, false, true, false}, hidden, k, rank, false);
    LinearWeights second = test::case_weights({"fc2", SVDQ_SCHEME_W4A4, false, true, true, false, false, false}, n, hidden, rank, false);
    second.input_shift = 0.171875f;  // Nunchaku's GELU shift, with unsigned codes
    second.unsigned_input = true;
    const std::vector<float> x = test::gaussian(static_cast<size_t>(m * k), 8);

    const Linear fc1(*gpu, first), fc2(*gpu, second);
    const Arena::Scope scope(gpu->arena());
    const TensorView dx = gpu->arena().input(x.data(), m, k);
    const TensorView fused_hidden = gpu->arena().matrix(m, hidden), fused_y = gpu->arena().matrix(m, n);
    const TensorView one_hidden = gpu->arena().matrix(m, hidden), one_y = gpu->arena().matrix(m, n);
    Linear::forward_pair(*gpu, fc1, fc2, dx, fused_hidden, fused_y);
    fc1.forward(*gpu, dx, one_hidden);
    fc2.forward(*gpu, one_hidden, one_y);
    // The epilogue's codes are those the separate quantizer makes from the same floats: equal bits.
    EXPECT_EQ(download(*gpu, fused_hidden), download(*gpu, one_hidden));
    const std::vector<float> y = download(*gpu, fused_y);
    EXPECT_EQ(y, download(*gpu, one_y));

    // Against the CPU: the hidden floats differ in summation order, so a code may round the other way.
    Context cpu(test::level_options(SVDQ_CPU_SCALAR));
    const std::vector<float> h = test::run_linear(cpu, first, x, m);
    EXPECT_LT(relative_error(y, test::run_linear(cpu, second, h, m)), 2e-3);
}

std::vector<float> flux_output(Context& ctx, const FluxCheckpoint& checkpoint, svdq_linear_scheme kind, const FluxInputSet& inputs) {
    const FluxTransformer model(ctx, checkpoint, kind);
    return model.forward(ctx, inputs.view());
}

// The forward's attention rounds q, k and v to BF16 on the GPU: ~1e-2 of the output's scale over the
// tiny model's blocks; a dropped op or a wrong layout is off by far more.
constexpr double kFluxBound = 2e-2;

TEST(CudaFlux, ForwardMatchesTheCpu) {
    SVDQ_REQUIRE_CUDA(gpu);
    const std::string model = std::string(SVDQ_TEST_DATA_DIR) + "/flux-tiny";
    const FluxCheckpoint checkpoint(model);
    const FluxInputSet inputs = read_flux_inputs(SafeTensorsFile(model + "/inputs.safetensors"), checkpoint.config());
    for (svdq_linear_scheme kind : {SVDQ_SCHEME_FLOAT, SVDQ_SCHEME_W4A4}) {
        SCOPED_TRACE(kind == SVDQ_SCHEME_FLOAT ? "float" : "W4A4");
        Context cpu(test::level_options(SVDQ_CPU_SCALAR));
        const std::vector<float> expected = flux_output(cpu, checkpoint, kind, inputs);
        EXPECT_LT(relative_error(flux_output(*gpu, checkpoint, kind, inputs), expected), kFluxBound);
    }
}

TEST(CudaFlux, NunchakuInt4CheckpointMatchesTheCpu) {
    SVDQ_REQUIRE_CUDA(gpu);
    const std::string path = test::temp_path("cuda-nunchaku.safetensors");
    test::FluxFixtureOptions o;
    o.style = test::FluxFileStyle::Reference;
    test::write_flux_fixture(path, o);
    const FluxCheckpoint checkpoint(path);
    const FluxInputSet inputs = synthetic_flux_inputs(checkpoint.config(), 1, 7);
    Context cpu(test::level_options(SVDQ_CPU_SCALAR));
    const std::vector<float> expected = flux_output(cpu, checkpoint, SVDQ_SCHEME_FLOAT, inputs);
    EXPECT_LT(relative_error(flux_output(*gpu, checkpoint, SVDQ_SCHEME_FLOAT, inputs), expected), kFluxBound);
}

}  // namespace
