// Whole linear layers in every precision against float64 math, with the
// error bounds that make SVDQuant worth having.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/context.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "nn/linear.h"
#include "quant/lowrank.h"
#include "quant/smoothing.h"
#include "test_util.h"

namespace svdq {

namespace {

constexpr int64_t M = 64, N = 256, K = 512;

struct Problem {
    std::vector<float> x, w, bias;
    std::vector<double> reference;
};

Problem outlier_problem() {
    Problem p;
    p.x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(M * K), 21), K, 64, 30.0f);
    p.w = test::gaussian(static_cast<size_t>(N * K), 22, 0.05f);
    for (int64_t i = 0; i < N; ++i) p.w[static_cast<size_t>(i * K + 100)] *= 12.0f;  // a weight outlier channel
    p.bias = test::gaussian(static_cast<size_t>(N), 23);
    p.reference = test::reference_matmul(p.x.data(), M, N, K, [&](int64_t o, int64_t j) { return p.w[static_cast<size_t>(o * K + j)]; },
                                         p.bias.data());
    return p;
}

double run(Context& ctx, const Problem& p, svdq_linear_kind kind, bool smooth, bool branch) {
    LinearWeights lw;
    lw.kind = kind;
    lw.n = N;
    lw.k = K;
    lw.weight = p.w;
    lw.bias = p.bias;
    if (smooth) lw.smooth = compute_smoothing(p.x.data(), M, p.w.data(), N, K, 0.5f, 0.5f, ctx.pool());
    if (branch) {
        std::vector<float> smoothed = p.w;
        for (int64_t i = 0; i < N; ++i)
            for (int64_t j = 0; j < K; ++j) smoothed[static_cast<size_t>(i * K + j)] *= smooth ? lw.smooth[static_cast<size_t>(j)] : 1.0f;
        LowRank lr = lowrank_decompose(smoothed.data(), N, K, 32);
        lw.rank = 32;
        lw.up = std::move(lr.up);
        lw.down = std::move(lr.down);
    }
    const Linear layer(ctx, std::move(lw));
    std::vector<float> y(static_cast<size_t>(M * N));
    layer.forward(ctx, p.x.data(), M, y.data());
    return test::frobenius_rel_error(y, p.reference);
}

}  // namespace

TEST(Linear, ErrorOrderingFollowsThePaper) {
    Context ctx(test::context_options());
    const Problem p = outlier_problem();
    const double fp = run(ctx, p, SVDQ_LINEAR_FLOAT, false, false);
    const double w4a16 = run(ctx, p, SVDQ_LINEAR_W4A16, false, false);
    const double naive = run(ctx, p, SVDQ_LINEAR_W4A4, false, false);
    const double smooth = run(ctx, p, SVDQ_LINEAR_W4A4, true, false);
    const double branch = run(ctx, p, SVDQ_LINEAR_W4A4, false, true);
    const double svdquant = run(ctx, p, SVDQ_LINEAR_W4A4, true, true);
    std::printf("relative error: float %.2e  w4a16 %.4f  w4a4 naive %.4f  smooth %.4f  low-rank %.4f  svdquant %.4f\n", fp,
                w4a16, naive, smooth, branch, svdquant);
    EXPECT_LT(fp, 1e-5);
    EXPECT_LT(w4a16, 0.2);  // the weight outlier channel costs W4A16 too
    EXPECT_LT(branch, naive);
    EXPECT_LT(smooth, naive);
    EXPECT_LT(svdquant, smooth);
    EXPECT_LT(svdquant, 0.5 * naive);
    EXPECT_LT(svdquant, 0.2);
}

TEST(Linear, UnfusedBranchComputesTheSameLayer) {
    Context ctx(test::context_options());
    const Problem p = outlier_problem();
    LinearWeights lw;
    lw.kind = SVDQ_LINEAR_W4A4;
    lw.activation = SVDQ_ACTIVATION_GELU_TANH;
    lw.n = N;
    lw.k = K;
    lw.weight = p.w;
    lw.bias = p.bias;
    lw.smooth = compute_smoothing(p.x.data(), M, p.w.data(), N, K, 0.5f, 0.5f, ctx.pool());
    std::vector<float> smoothed = p.w;
    for (int64_t i = 0; i < N * K; ++i) smoothed[static_cast<size_t>(i)] *= lw.smooth[static_cast<size_t>(i % K)];
    LowRank lr = lowrank_decompose(smoothed.data(), N, K, 32);
    lw.rank = 32;
    lw.up = lr.up;
    lw.down = lr.down;
    LinearWeights unfused_w = lw;
    unfused_w.branch_execution = SVDQ_BRANCH_UNFUSED;
    const Linear fused(ctx, std::move(lw)), unfused(ctx, std::move(unfused_w));
    std::vector<float> y1(static_cast<size_t>(M * N)), y2(y1.size());
    fused.forward(ctx, p.x.data(), M, y1.data());
    unfused.forward(ctx, p.x.data(), M, y2.data());
    EXPECT_LT(test::max_rel_error(y2, y1), 1e-5);
    EXPECT_EQ(unfused.branch_execution(), SVDQ_BRANCH_UNFUSED);
}

TEST(Linear, RejectsNonFiniteActivations) {
    Context ctx(test::context_options());
    LinearWeights lw;
    lw.kind = SVDQ_LINEAR_W4A4;
    lw.n = 2;
    lw.k = 64;
    lw.weight.assign(128, 0.5f);
    const Linear layer(ctx, std::move(lw));
    std::vector<float> x(64, 1.0f), y(2);
    x[17] = std::nanf("");
    try {
        layer.forward(ctx, x.data(), 1, y.data());
        FAIL() << "NaN input accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), SVDQ_ERROR_NON_FINITE);
        EXPECT_NE(std::string(e.what()).find("column 17"), std::string::npos) << e.what();
    }
}

}  // namespace svdq
