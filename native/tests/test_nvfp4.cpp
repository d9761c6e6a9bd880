// NVFP4: the E2M1 grid and E4M3 scales bit for bit, row round trips, and
// the float emulation NVFP4 layers run against the integer reference GEMM.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/cpu/gemm_nvfp4_scalar.h"
#include "backend/context.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "nn/linear.h"
#include "core/numerics/fake_quant.h"
#include "quant/lowrank.h"
#include "core/numerics/nvfp4_quant.h"
#include "quant/smoothing.h"
#include "quant_reference.h"
#include "test_util.h"

namespace svdq {

TEST(Nvfp4, E2M1GridIsExactAndSigned) {
    const float grid[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    for (int c = 0; c < 8; ++c) {
        EXPECT_EQ(float_to_e2m1(grid[c]), c);
        EXPECT_EQ(e2m1_value(float_to_e2m1(grid[c])), grid[c]);
        if (c > 0) {
            EXPECT_EQ(float_to_e2m1(-grid[c]), c | 8);
            EXPECT_EQ(e2m1_value(float_to_e2m1(-grid[c])), -grid[c]);
        }
    }
    EXPECT_EQ(float_to_e2m1(-0.1f), 0);  // no negative zero code
}

TEST(Nvfp4, E2M1RoundsToNearestTiesToEvenAndSaturates) {
    // Midpoints go to the code with an even mantissa bit.
    const std::pair<float, float> cases[] = {{0.25f, 0.0f}, {0.26f, 0.5f}, {0.75f, 1.0f}, {1.25f, 1.0f}, {1.3f, 1.5f},
                                             {1.75f, 2.0f}, {2.5f, 2.0f},  {2.6f, 3.0f},  {3.5f, 4.0f}, {5.0f, 4.0f},
                                             {5.1f, 6.0f},  {7.0f, 6.0f},  {1e9f, 6.0f},  {-3.5f, -4.0f}};
    for (const auto& [in, want] : cases) EXPECT_EQ(e2m1_value(float_to_e2m1(in)), want) << "input " << in;
}

TEST(Nvfp4, E4M3EncodesEveryCodeBackToItself) {
    for (int c = 0; c < 256; ++c) {
        if ((c & 0x7f) == 0x7f) continue;  // NaN
        EXPECT_EQ(float_to_e4m3(e4m3_to_float(static_cast<uint8_t>(c))), c) << "code " << c;
    }
}

TEST(Nvfp4, E4M3KnownValuesRoundingAndSaturation) {
    EXPECT_EQ(float_to_e4m3(1.0f), 0x38);
    EXPECT_EQ(float_to_e4m3(448.0f), 0x7e);
    EXPECT_EQ(float_to_e4m3(1000.0f), 0x7e);  // saturates, never NaN
    EXPECT_EQ(float_to_e4m3(-1000.0f), 0xfe);
    EXPECT_EQ(float_to_e4m3(std::nanf("")), 0x7f);
    EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -9)), 0x01);   // smallest subnormal
    EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -10)), 0x00);  // tie with zero goes to even 0
    EXPECT_EQ(float_to_e4m3(std::ldexp(3.0f, -10)), 0x02);  // 1.5 subnormal steps: tie to even 2
    EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -6)), 0x08);   // smallest normal
    EXPECT_EQ(float_to_e4m3(1.0625f), 0x38);  // halfway 1 and 1.125: even mantissa
    EXPECT_EQ(float_to_e4m3(1.1875f), 0x3a);  // halfway 1.125 and 1.25: even mantissa
    EXPECT_EQ(float_to_e4m3(1.2f), 0x3a);
    EXPECT_EQ(e4m3_to_float(0x7e), 448.0f);
}

TEST(Nvfp4, GridValuedRowsRoundTripExactly) {
    // Each group holds 6 and the tensor scale is a power of two, so every
    // group's step is exactly 4 * 0.25 = 1.
    std::vector<float> row(64);
    const float grid[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    for (size_t i = 0; i < row.size(); ++i) row[i] = (i % 16 == 0) ? 6.0f : grid[i % 8] * ((i % 3) ? 1.0f : -1.0f);
    std::vector<float> back(row.size());
    fake_quantize_nvfp4_row(row.data(), 64, 0.25f, back.data());
    EXPECT_EQ(back, row);
}

TEST(Nvfp4, RandomRowsStayWithinHalfTheWidestStep) {
    ThreadPool pool(2);
    const int64_t rows = 32, cols = 256;
    const std::vector<float> x = test::gaussian(static_cast<size_t>(rows * cols), 7);
    const Nvfp4Tensor q = quantize_nvfp4(x.data(), rows, cols, pool);
    const std::vector<float> back = q.dequantize();
    for (int64_t g = 0; g < rows * cols / kNvfp4Group; ++g) {
        float absmax = 0.0f;
        for (int64_t i = 0; i < kNvfp4Group; ++i) absmax = std::max(absmax, std::fabs(x[static_cast<size_t>(g * kNvfp4Group + i)]));
        // The widest E2M1 gap (4 -> 6) is a third of the range; E4M3 rounding
        // of the scale adds at most 1/16.
        for (int64_t i = 0; i < kNvfp4Group; ++i) {
            const size_t at = static_cast<size_t>(g * kNvfp4Group + i);
            EXPECT_LE(std::fabs(back[at] - x[at]), absmax / 6.0f * 1.0625f + 1e-6f);
        }
    }
    const double error = test::frobenius_rel_error(back, x);
    std::printf("NVFP4 round trip of N(0, 1), %lld x %lld: relative error %.4f\n", static_cast<long long>(rows),
                static_cast<long long>(cols), error);
    // Measured 0.0961; an exact copy, a coarser grid or a wrong scale leaves this band.
    EXPECT_LT(error, 0.105);
    EXPECT_GT(error, 0.087);
}

TEST(Nvfp4, LayerEmulationMatchesTheIntegerReference) {
    svdq_context ctx(test::context_options());
    const int64_t m = 7, n = 40, k = 48;  // K a multiple of 16 but not of 64
    const std::vector<float> x = test::gaussian(static_cast<size_t>(m * k), 1);
    const std::vector<float> w = test::gaussian(static_cast<size_t>(n * k), 2, 0.1f);

    Nvfp4Tensor qx;
    qx.values.rows = m;
    qx.values.cols = k;
    qx.values.packed.resize(static_cast<size_t>(m * k / 2));
    qx.values.scales.resize(static_cast<size_t>(m * k / kNvfp4Group));
    std::vector<float> token_scales(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
        float absmax = 0.0f;
        for (int64_t j = 0; j < k; ++j) absmax = std::max(absmax, std::fabs(x[static_cast<size_t>(i * k + j)]));
        token_scales[static_cast<size_t>(i)] = nvfp4_tensor_scale(absmax);
        quantize_nvfp4_row(x.data() + i * k, k, token_scales[static_cast<size_t>(i)], qx.values.packed.data() + i * k / 2,
                           qx.values.scales.data() + i * k / kNvfp4Group);
    }
    const Nvfp4Tensor qw = quantize_nvfp4(w.data(), n, k, ctx.pool());
    std::vector<float> reference(static_cast<size_t>(m * n));
    gemm_nvfp4_reference(qx, token_scales.data(), qw, reference.data());

    LinearWeights lw;
    lw.scheme = SVDQ_SCHEME_W4A4;
    lw.format = SVDQ_FORMAT_NVFP4;
    lw.n = n;
    lw.k = k;
    lw.weight = w;
    const Linear layer(ctx, lw);
    std::vector<float> y(static_cast<size_t>(m * n));
    layer.forward(ctx, x.data(), m, y.data());
    EXPECT_LT(test::max_rel_error(y, reference), 1e-5);
    const auto exact = test::reference_matmul(x.data(), m, n, k, [&](int64_t o, int64_t j) { return w[static_cast<size_t>(o * k + j)]; });
    EXPECT_GT(test::max_rel_error(y, exact), 1e-3);  // and it did quantize
}

// NVFP4 layers against the float64 definition of quant_reference.h, written
// apart from the engine's codecs: E2M1 values {0, 0.5, .., 6} and E4M3 group
// scales each the nearest by search (ties to the even code, saturating), groups
// of 16, the weights' tensor scale absmax / (6 * 448) over the residual
// W lambda - up down, the activations' per token over X / lambda, the branch in
// BF16 reading the raw X, and the bias. Plain RTN and the full SVDQuant layer.
TEST(Nvfp4, LayerMatchesTheDefinitionWithBiasSmoothingAndBranch) {
    svdq_context ctx(test::context_options());
    const int64_t m = 12, n = 72, k = 176, rank = 16;  // K a multiple of 16 but not of 64
    const std::vector<float> x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(m * k), 5), k, 32, 20.0f);
    std::vector<float> w = test::gaussian(static_cast<size_t>(n * k), 6, 0.1f);
    for (int64_t o = 0; o < n; ++o) w[static_cast<size_t>(o * k + 40)] *= 10.0f;  // a weight outlier channel
    const std::vector<float> bias = test::gaussian(static_cast<size_t>(n), 7, 3.0f);
    const std::vector<float> smooth = compute_smoothing(x.data(), m, w.data(), n, k, 0.5f, 0.5f, ctx.pool());
    std::vector<float> smoothed = w;
    for (int64_t i = 0; i < n * k; ++i) smoothed[static_cast<size_t>(i)] *= smooth[static_cast<size_t>(i % k)];
    const LowRank lr = lowrank_decompose(smoothed.data(), n, k, rank, SvdMethod::Exact);
    const std::vector<double> exact = ref::matmul(x.data(), m, w.data(), n, k, bias.data());

    for (bool svdquant : {false, true}) {
        SCOPED_TRACE(svdquant ? "svdquant" : "rtn");
        LinearWeights lw;
        lw.scheme = SVDQ_SCHEME_W4A4;
        lw.format = SVDQ_FORMAT_NVFP4;
        lw.n = n;
        lw.k = k;
        lw.weight = w;
        lw.bias = bias;
        ref::Layer l;
        l.nvfp4 = true;
        l.n = n;
        l.k = k;
        l.weight = w.data();
        l.bias = bias.data();
        if (svdquant) {
            lw.smooth = smooth;
            lw.rank = rank;
            lw.up = lr.up;
            lw.down = lr.down;
            l.smooth = smooth.data();
            l.rank = rank;
            l.up = lr.up.data();
            l.down = lr.down.data();
        }
        const Linear layer(ctx, lw);
        std::vector<float> y(static_cast<size_t>(m * n));
        layer.forward(ctx, x.data(), m, y.data());
        const double to_definition = ref::max_rel(y, ref::layer_output(l, x.data(), m));
        const double to_float = ref::frobenius_rel(y, exact);
        std::printf("NVFP4 %s: %.2e of max |Y| from its definition, %.4f from float math\n", svdquant ? "svdquant" : "rtn",
                    to_definition, to_float);
        EXPECT_LT(to_definition, 1e-6);  // fp32 accumulation: measured 3.2e-7 (rtn), 2.1e-7 (svdquant)
        EXPECT_LT(to_float, svdquant ? 0.029 : 0.18);  // measured 0.0258 and 0.1623
    }
}

}  // namespace svdq
