// The quantizer on layers with injected outlier channels: the paper's
// ablation ordering for INT4 and NVFP4 (numbers printed), the grid search
// against the fixed (0.5, 0.5), shared smoothing for a group, refinement.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "backend/context.h"
#include "core/error.h"
#include "nn/linear.h"
#include "quant/quantizer.h"
#include "quant/smooth_search.h"
#include "quant_reference.h"
#include "test_util.h"

namespace svdq {

namespace {

constexpr int64_t M = 256, N = 256, K = 512, T = 64;

// Activations with outlier channels (as in diffusion transformers), weights
// with an outlier channel of their own and a few dominant directions.
struct OutlierLayer {
    std::vector<float> calib, eval;  // [M, K], [T, K] from the same distribution
    LayerToQuantize layer;
};

OutlierLayer outlier_layer(uint64_t seed, int64_t n = N) {
    OutlierLayer p;
    p.calib = test::with_outlier_channels(test::gaussian(static_cast<size_t>(M * K), seed), K, 64, 30.0f);
    p.eval = test::with_outlier_channels(test::gaussian(static_cast<size_t>(T * K), seed + 1), K, 64, 30.0f);
    p.layer.n = n;
    p.layer.weight = test::gaussian(static_cast<size_t>(n * K), seed + 2, 0.05f);
    for (int64_t i = 0; i < n; ++i) p.layer.weight[static_cast<size_t>(i * K + 100)] *= 12.0f;
    const std::vector<float> a = test::gaussian(static_cast<size_t>(n * 4), seed + 3, 0.5f);
    const std::vector<float> b = test::gaussian(static_cast<size_t>(4 * K), seed + 4, 0.5f);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < 4; ++r)
            for (int64_t j = 0; j < K; ++j)
                p.layer.weight[static_cast<size_t>(i * K + j)] += a[static_cast<size_t>(i * 4 + r)] * b[static_cast<size_t>(r * K + j)] / 8.0f;
    p.layer.bias = test::gaussian(static_cast<size_t>(n), seed + 5, 3.0f);  // as large as X W^T
    return p;
}

// Held-out relative output error of the quantized layer(s) against X W^T + b
// in float64: ||Y - Y_ref||_F / ||Y_ref||_F over all layers together.
double held_out_error(Context& ctx, const QuantizedLayers& q, const std::vector<LayerToQuantize>& layers,
                      const std::vector<float>& eval) {
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < layers.size(); ++i) {
        const LayerToQuantize& l = layers[i];
        std::vector<float> y(static_cast<size_t>(T * l.n));
        Linear(ctx, q.layers[i]).forward(ctx, eval.data(), T, y.data());
        const std::vector<double> ref = ref::matmul(eval.data(), T, l.weight.data(), l.n, K, l.bias.empty() ? nullptr : l.bias.data());
        for (size_t j = 0; j < ref.size(); ++j) {
            diff += (y[j] - ref[j]) * (y[j] - ref[j]);
            norm += ref[j] * ref[j];
        }
    }
    return std::sqrt(diff / norm);
}

double quantize_and_measure(Context& ctx, const OutlierLayer& p, QuantizerOptions o, QuantizedLayers* out = nullptr) {
    const std::vector<LayerToQuantize> layers{p.layer};
    QuantizedLayers q = quantize_layers(layers, K, p.calib.data(), M, o, ctx);
    const double e = held_out_error(ctx, q, layers, p.eval);
    if (out) *out = std::move(q);
    return e;
}

const char* format_name(svdq_number_format f) { return f == SVDQ_FORMAT_NVFP4 ? "NVFP4" : "INT4"; }

}  // namespace

class AblationOrdering : public ::testing::TestWithParam<svdq_number_format> {};

TEST_P(AblationOrdering, SvdQuantBeatsEveryBaselineOnOutliers) {
    svdq_context ctx(test::context_options());
    const OutlierLayer p = outlier_layer(31);
    const svdq_quant_method methods[] = {SVDQ_QUANT_RTN, SVDQ_QUANT_SMOOTHQUANT, SVDQ_QUANT_LOWRANK, SVDQ_QUANT_SVDQUANT,
                                         SVDQ_QUANT_W4A16};
    const char* names[] = {"rtn", "smoothquant", "lowrank", "svdquant", "w4a16"};
    double e[5];
    for (int i = 0; i < 5; ++i) {
        QuantizerOptions o;
        o.method = methods[i];
        o.format = methods[i] == SVDQ_QUANT_W4A16 ? SVDQ_FORMAT_INT4 : GetParam();  // W4A16 exists in INT4 only
        QuantizedLayers q;
        e[i] = quantize_and_measure(ctx, p, o, &q);
        std::printf("%-6s %-12s held-out rel. error %.4f  (alpha %.2f, beta %.2f, %d candidates)\n", format_name(GetParam()),
                    names[i], e[i], q.alpha, q.beta, q.candidates);
    }
    EXPECT_GT(e[0], e[2]);        // rtn > lowrank
    EXPECT_GT(e[1], e[3]);        // smoothquant > svdquant
    EXPECT_GT(e[0], e[1]);        // smoothing helps on its own
    EXPECT_GT(e[0], 2.0 * e[3]);  // and the whole method by a wide margin
    EXPECT_LT(e[3], 0.5 * e[4]);  // 4-bit activations and still well ahead of W4A16 (the paper's Table 3)
    // Measured, INT4: 0.2428 0.0827 0.1204 0.0226 0.1410; NVFP4: 0.1184 0.0510
    // 0.0673 0.0192 (rtn, smoothquant, lowrank, svdquant) against INT4 w4a16 0.1410; bounds ~10% above.
    const double bound[2][5] = {{0.267, 0.091, 0.133, 0.025, 0.155}, {0.130, 0.056, 0.074, 0.0212, 0.155}};
    for (int i = 0; i < 5; ++i) EXPECT_LT(e[i], bound[GetParam() == SVDQ_FORMAT_NVFP4][i]) << names[i];
}

TEST(Quantizer, W4A16InNvfp4IsRefusedByName) {
    svdq_context ctx(test::context_options());
    const OutlierLayer p = outlier_layer(31);
    QuantizerOptions o;
    o.method = SVDQ_QUANT_W4A16;
    o.format = SVDQ_FORMAT_NVFP4;
    try {
        quantize_and_measure(ctx, p, o);
        FAIL() << "W4A16 in NVFP4 was quantized (it used to run silently as an fp32 GEMM on NVFP4-rounded weights)";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("W4A16 layer in format NVFP4 does not exist"), std::string::npos) << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(Formats, AblationOrdering, ::testing::Values(SVDQ_FORMAT_INT4, SVDQ_FORMAT_NVFP4),
                         [](const auto& info) { return std::string(format_name(info.param)); });

TEST(Quantizer, GridSearchBeatsTheFixedMidpoint) {
    svdq_context ctx(test::context_options());
    const OutlierLayer p = outlier_layer(41);
    QuantizerOptions fixed;
    fixed.search = SVDQ_SEARCH_FIXED;
    QuantizerOptions searched;
    searched.search = SVDQ_SEARCH_EXHAUSTIVE;
    searched.grid_steps = 10;
    QuantizedLayers q;
    const double e_fixed = quantize_and_measure(ctx, p, fixed);
    const double e_search = quantize_and_measure(ctx, p, searched, &q);
    std::printf("fixed (0.5, 0.5): %.4f; searched (%.2f, %.2f) over %d candidates: %.4f\n", e_fixed, q.alpha, q.beta,
                q.candidates, e_search);
    EXPECT_EQ(q.candidates, 121);
    EXPECT_LT(e_search, 0.6 * e_fixed);  // measured 0.0191 against 0.0387
    EXPECT_LT(e_search, 0.021);
}

TEST(Quantizer, CoarseToFineFindsNearlyTheExhaustiveOptimumWithFewerCandidates) {
    svdq_context ctx(test::context_options());
    const OutlierLayer p = outlier_layer(51);
    QuantizerOptions full;
    full.search = SVDQ_SEARCH_EXHAUSTIVE;
    QuantizerOptions fast;  // the default
    QuantizedLayers qf, qc;
    const double e_full = quantize_and_measure(ctx, p, full, &qf);
    const double e_fast = quantize_and_measure(ctx, p, fast, &qc);
    std::printf("exhaustive: %d candidates -> (%.2f, %.2f) %.4f; coarse-to-fine: %d -> (%.2f, %.2f) %.4f\n", qf.candidates,
                qf.alpha, qf.beta, e_full, qc.candidates, qc.alpha, qc.beta, e_fast);
    EXPECT_EQ(qf.candidates, 441);
    EXPECT_LT(qc.candidates, 100);
    EXPECT_LT(e_fast, 1.02 * e_full);  // measured: the same optimum, 0.0227
    EXPECT_LT(e_full, 0.025);
}

TEST(Quantizer, SearchScoresIncludeTheBranch) {
    // With the branch in the score the optimum differs from SmoothQuant's.
    svdq_context ctx(test::context_options());
    const OutlierLayer p = outlier_layer(61);
    QuantizerOptions o;
    o.search = SVDQ_SEARCH_EXHAUSTIVE;
    o.grid_steps = 10;
    const std::vector<LayerToQuantize> layers{p.layer};
    const QuantizedLayers with_branch = quantize_layers(layers, K, p.calib.data(), M, o, ctx);
    o.method = SVDQ_QUANT_SMOOTHQUANT;
    const QuantizedLayers without = quantize_layers(layers, K, p.calib.data(), M, o, ctx);
    std::printf("svdquant picks (%.2f, %.2f), smoothquant (%.2f, %.2f)\n", with_branch.alpha, with_branch.beta, without.alpha,
                without.beta);
    EXPECT_TRUE(with_branch.alpha != without.alpha || with_branch.beta != without.beta);
}

TEST(Quantizer, GroupSharesOneSmoothingAndQuantizesEveryLayer) {
    svdq_context ctx(test::context_options());
    const OutlierLayer a = outlier_layer(71), b = outlier_layer(81, 128);
    const std::vector<LayerToQuantize> layers{a.layer, b.layer};
    QuantizerOptions o;
    const QuantizedLayers q = quantize_layers(layers, K, a.calib.data(), M, o, ctx);
    ASSERT_EQ(q.layers.size(), 2u);
    EXPECT_EQ(q.layers[0].smooth, q.smooth);
    EXPECT_EQ(q.layers[1].smooth, q.smooth);
    EXPECT_EQ(q.layers[1].n, 128);
    EXPECT_EQ(q.layers[1].rank, 32);
    const double e = held_out_error(ctx, q, layers, a.eval);
    std::printf("group of two layers, shared lambda: held-out rel. error %.4f\n", e);
    EXPECT_LT(e, 0.0215);  // measured 0.0194
}

TEST(Quantizer, RefinementNeverMakesTheResidualWorse) {
    svdq_context ctx(test::context_options());
    const OutlierLayer p = outlier_layer(91);
    QuantizerOptions o;
    o.search = SVDQ_SEARCH_FIXED;
    QuantizedLayers plain, refined;
    const double e0 = quantize_and_measure(ctx, p, o, &plain);
    o.refine_iterations = 4;
    const double e1 = quantize_and_measure(ctx, p, o, &refined);
    std::printf("refinement: %d rounds kept, held-out rel. error %.4f -> %.4f\n", refined.refine_rounds, e0, e1);
    EXPECT_GE(refined.refine_rounds, 1);
    EXPECT_LT(e1, e0);  // measured 0.0343 -> 0.0319
    EXPECT_LT(e0, 0.038);
}

TEST(Quantizer, RejectsBadOptions) {
    svdq_context pool(test::context_options());
    const OutlierLayer p = outlier_layer(5);
    const std::vector<LayerToQuantize> layers{p.layer};
    QuantizerOptions o;
    o.rank = 24;
    EXPECT_THROW(quantize_layers(layers, K, p.calib.data(), M, o, pool), Error);
    o.rank = 32;
    EXPECT_THROW(quantize_layers(layers, K, nullptr, 0, o, pool), Error);  // svdquant needs calibration
    o.method = SVDQ_QUANT_LOWRANK;
    EXPECT_NO_THROW(quantize_layers(layers, K, nullptr, 0, o, pool));
    o.grid_steps = 0;
    EXPECT_THROW(quantize_layers(layers, K, nullptr, 0, o, pool), Error);
}

}  // namespace svdq
