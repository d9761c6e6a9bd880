// Whole linear layers in every format against float64 math, with the
// error bounds that make SVDQuant worth having.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "backend/context.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/nunchaku_flux_layout.h"
#include "nn/linear.h"
#include "quant/lowrank.h"
#include "quant/smoothing.h"
#include "quant_reference.h"
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
    p.bias = test::gaussian(static_cast<size_t>(N), 23, 3.0f);  // as large as X W^T (std 4.4)
    p.reference = test::reference_matmul(p.x.data(), M, N, K, [&](int64_t o, int64_t j) { return p.w[static_cast<size_t>(o * K + j)]; },
                                         p.bias.data());
    return p;
}

// The problem's layer [N, K] with its bias, no smoothing, no branch.
LinearWeights layer_of(const Problem& p, svdq_linear_scheme kind) {
    LinearWeights lw;
    lw.scheme = kind;
    lw.format = kind == SVDQ_SCHEME_FLOAT ? SVDQ_FORMAT_FLOAT : SVDQ_FORMAT_INT4;
    lw.n = N;
    lw.k = K;
    lw.weight = p.w;
    lw.bias = p.bias;
    return lw;
}

double run(Context& ctx, const Problem& p, svdq_linear_scheme kind, bool smooth, bool branch) {
    LinearWeights lw = layer_of(p, kind);
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
    const double fp = run(ctx, p, SVDQ_SCHEME_FLOAT, false, false);
    const double w4a16 = run(ctx, p, SVDQ_SCHEME_W4A16, false, false);
    const double naive = run(ctx, p, SVDQ_SCHEME_W4A4, false, false);
    const double smooth = run(ctx, p, SVDQ_SCHEME_W4A4, true, false);
    const double branch = run(ctx, p, SVDQ_SCHEME_W4A4, false, true);
    const double svdquant = run(ctx, p, SVDQ_SCHEME_W4A4, true, true);
    std::printf("relative error: float %.2e  w4a16 %.4f  w4a4 naive %.4f  smooth %.4f  low-rank %.4f  svdquant %.4f\n", fp,
                w4a16, naive, smooth, branch, svdquant);
    // Measured: 3.5e-7, 0.1402, 0.2232, 0.0708, 0.1521, 0.0481; each bound ~10% above.
    EXPECT_LT(fp, 1e-6);
    EXPECT_LT(w4a16, 0.154);  // the weight outlier channel costs W4A16 too
    EXPECT_LT(naive, 0.245);
    EXPECT_LT(smooth, 0.078);
    EXPECT_LT(branch, 0.167);
    EXPECT_LT(svdquant, 0.053);
    EXPECT_LT(branch, naive);
    EXPECT_LT(smooth, naive);
    EXPECT_LT(svdquant, smooth);
    EXPECT_LT(svdquant, 0.5 * w4a16);  // 4-bit activations, and still well ahead of W4A16
}

TEST(Linear, UnfusedBranchComputesTheSameLayer) {
    Context ctx(test::context_options());
    const Problem p = outlier_problem();
    LinearWeights lw = layer_of(p, SVDQ_SCHEME_W4A4);
    lw.activation = SVDQ_ACTIVATION_GELU_TANH;
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

namespace {

// An SVDQuant layer (smoothing, rank 32) whose input is a GELU output, like
// FLUX's mlp_fc2, reading Nunchaku's unsigned shifted encoding. lambda is
// rounded to powers of two, so the first kTieRows rows can sit exactly on
// half levels of that encoding: x = t / 32 * lambda - shift (t in 0..30, 30
// in every group) gives (x + shift) / lambda = t / 32 exactly and
// u * 15 / absmax = t / 2, a tie for every odd t.
constexpr int64_t kTieRows = 8;

struct GeluInputLayer {
    std::vector<float> x, w, bias;
    LinearWeights weights;
};

GeluInputLayer gelu_input_layer(Context& ctx) {
    GeluInputLayer p;
    p.x = test::with_outlier_channels(test::gaussian(static_cast<size_t>(M * K), 31), K, 64, 10.0f);
    for (float& v : p.x) v = static_cast<float>(test::gelu_tanh_ref(v));
    p.w = test::gaussian(static_cast<size_t>(N * K), 32, 0.05f);
    p.bias = test::gaussian(static_cast<size_t>(N), 33);
    LinearWeights& lw = p.weights;
    lw.scheme = SVDQ_SCHEME_W4A4;
    lw.format = SVDQ_FORMAT_INT4;
    lw.n = N;
    lw.k = K;
    lw.weight = p.w;
    lw.bias = p.bias;
    lw.smooth = compute_smoothing(p.x.data(), M, p.w.data(), N, K, 0.5f, 0.5f, ctx.pool());
    for (float& s : lw.smooth) s = std::exp2(std::round(std::log2(s)));
    for (int64_t i = 0; i < kTieRows; ++i)
        for (int64_t j = 0; j < K; ++j) {
            const int64_t t = j % 64 == i ? 30 : (j * 7 + i * 3) % 31;
            p.x[static_cast<size_t>(i * K + j)] = static_cast<float>(t) / 32.0f * lw.smooth[static_cast<size_t>(j)] - nunchaku::kGeluShift;
        }
    std::vector<float> smoothed = p.w;
    for (int64_t i = 0; i < N * K; ++i) smoothed[static_cast<size_t>(i)] *= lw.smooth[static_cast<size_t>(i % K)];
    LowRank lr = lowrank_decompose(smoothed.data(), N, K, 32);
    lw.rank = 32;
    lw.up = std::move(lr.up);
    lw.down = std::move(lr.down);
    lw.input_shift = nunchaku::kGeluShift;
    lw.unsigned_input = true;
    return p;
}

std::vector<float> forward(Context& ctx, const LinearWeights& lw, const std::vector<float>& x) {
    const Linear layer(ctx, lw);
    std::vector<float> y(static_cast<size_t>(M * N));
    layer.forward(ctx, x.data(), M, y.data());
    return y;
}

ref::Layer reference_of(const LinearWeights& lw) {
    ref::Layer l;
    l.n = lw.n;
    l.k = lw.k;
    l.rank = lw.rank;
    l.weight = lw.weight.data();
    l.bias = lw.bias.empty() ? nullptr : lw.bias.data();
    l.smooth = lw.smooth.empty() ? nullptr : lw.smooth.data();
    l.up = lw.up.data();
    l.down = lw.down.data();
    l.shift = lw.input_shift;
    l.unsigned_input = lw.unsigned_input;
    return l;
}

}  // namespace

// Y = Qu((X + shift) / lambda) Q(R)^T + (X down'^T) up^T + bias in float64
// from the definitions (quant_reference.h): R = W lambda - up down in
// canonical INT4, Qu the unsigned per-token 64-group quantization (levels
// 0..15, scale absmax / 15), the branch reading the unshifted X with up and
// down' = down / lambda in BF16. What remains is fp32 rounding in the scale
// products and accumulations: measured 1.8e-7 of max |Y| (bound 1e-6).
// The unfused branch computes the same layer within that rounding.
TEST(Linear, UnsignedShiftedInputMatchesFloat64Math) {
    Context ctx(test::context_options());
    const GeluInputLayer p = gelu_input_layer(ctx);
    const std::vector<double> ref = ref::layer_output(reference_of(p.weights), p.x.data(), M);
    const std::vector<float> fused = forward(ctx, p.weights, p.x);
    const double error = ref::max_rel(fused, ref);
    std::printf("unsigned shifted input: %.2e of max |Y| from float64\n", error);
    EXPECT_LT(error, 1e-6);
    LinearWeights unfused_w = p.weights;
    unfused_w.branch_execution = SVDQ_BRANCH_UNFUSED;
    EXPECT_LT(ref::max_rel(forward(ctx, unfused_w, p.x), ref), 1e-6);
}

// With the bias compensating the shift as Nunchaku's files do (bias -
// (shift / smooth) R^T), the layer approximates X W^T + bias, and on GELU
// outputs better than the signed encoding: 16 levels cover [0, absmax]
// where signed quantization spends half of its levels on negatives it never sees.
TEST(Linear, CompensatedShiftApproximatesTheFloatLayer) {
    Context ctx(test::context_options());
    const GeluInputLayer p = gelu_input_layer(ctx);
    const auto exact = test::reference_matmul(p.x.data(), M, N, K, [&](int64_t o, int64_t j) { return p.w[static_cast<size_t>(o * K + j)]; },
                                              p.bias.data());
    LinearWeights shifted = p.weights;
    const std::vector<float> residual = ref::residual(reference_of(shifted));
    for (int64_t o = 0; o < N; ++o) {
        double c = 0.0;
        for (int64_t j = 0; j < K; ++j) c += residual[static_cast<size_t>(o * K + j)] / shifted.smooth[static_cast<size_t>(j)];
        shifted.bias[static_cast<size_t>(o)] -= static_cast<float>(shifted.input_shift * c);
    }
    LinearWeights uncompensated = p.weights, signed_input = p.weights;
    signed_input.input_shift = 0.0f;
    signed_input.unsigned_input = false;
    const double err_shifted = test::frobenius_rel_error(forward(ctx, shifted, p.x), exact);
    const double err_signed = test::frobenius_rel_error(forward(ctx, signed_input, p.x), exact);
    const double err_uncompensated = test::frobenius_rel_error(forward(ctx, uncompensated, p.x), exact);
    std::printf("relative error on GELU inputs: unsigned shifted %.4f  signed %.4f  shift without compensation %.4f\n",
                err_shifted, err_signed, err_uncompensated);
    // Measured: 0.0726, 0.0906 (1.25x), 0.1167 (1.61x).
    EXPECT_LT(err_shifted, 0.080);
    EXPECT_LT(err_shifted, 0.9 * err_signed);
    EXPECT_GT(err_uncompensated, 1.45 * err_shifted);
}

// A float layer keeps BF16 weights (a BF16 checkpoint's) in BF16 and any
// other weights in fp32; both compute the same layer.
TEST(Linear, FloatLayerKeepsBf16WeightsInHalfTheBytes) {
    Context ctx(test::context_options());
    const Problem p = outlier_problem();
    LinearWeights exact = layer_of(p, SVDQ_SCHEME_FLOAT);  // p.w: not all BF16 values
    exact.bias.clear();
    LinearWeights bf16 = exact;
    bf16.weight = test::bf16_values(p.w);
    LinearWeights widened = bf16;
    widened.weight[0] = std::nextafter(widened.weight[0], 1.0f);  // one value off the BF16 grid: fp32 storage
    const Linear a(ctx, std::move(exact)), b(ctx, std::move(bf16)), c(ctx, std::move(widened));
    EXPECT_EQ(a.weight_bytes(), static_cast<uint64_t>(N * K * 4));
    EXPECT_EQ(b.weight_bytes(), static_cast<uint64_t>(N * K * 2));
    EXPECT_EQ(c.weight_bytes(), static_cast<uint64_t>(N * K * 4));
    std::vector<float> yb(static_cast<size_t>(M * N)), yc(yb.size());
    b.forward(ctx, p.x.data(), M, yb.data());
    c.forward(ctx, p.x.data(), M, yc.data());
    const auto ref = test::reference_matmul(p.x.data(), M, N, K, [&](int64_t o, int64_t j) {
        return static_cast<double>(round_to_bf16(p.w[static_cast<size_t>(o * K + j)]));
    });
    EXPECT_LT(test::max_rel_error(yb, ref), 1e-5);
    EXPECT_LT(test::max_rel_error(yc, yb), 1e-5);
}

TEST(Linear, InputEncodingIsForInt4W4A4Only) {
    Context ctx(test::context_options());
    const std::pair<svdq_linear_scheme, svdq_number_format> others[] = {
        {SVDQ_SCHEME_FLOAT, SVDQ_FORMAT_FLOAT}, {SVDQ_SCHEME_W4A16, SVDQ_FORMAT_INT4}, {SVDQ_SCHEME_W4A4, SVDQ_FORMAT_NVFP4}};
    for (const auto& [kind, format] : others) {
        LinearWeights lw;
        lw.scheme = kind;
        lw.format = format;
        lw.n = 2;
        lw.k = 64;
        lw.weight.assign(128, 0.5f);
        lw.input_shift = nunchaku::kGeluShift;
        lw.unsigned_input = true;
        try {
            const Linear layer(ctx, std::move(lw));
            ADD_FAILURE() << "input encoding accepted for kind " << kind << ", format " << format;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), SVDQ_ERROR_INVALID_ARGUMENT);
            EXPECT_NE(std::string(e.what()).find("INT4 W4A4 layers only"), std::string::npos) << e.what();
        }
    }
}

TEST(Linear, RejectsNonFiniteActivations) {
    Context ctx(test::context_options());
    LinearWeights lw;
    lw.scheme = SVDQ_SCHEME_W4A4;
    lw.format = SVDQ_FORMAT_INT4;
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
